//! Several hubs in one server: each with its own host name, policies and registry.

use hyper::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestServer, device_token};

#[tokio::test]
async fn a_second_hub_has_its_own_registry_and_credentials() {
    let s = TestServer::start().await;
    let api = s.api();
    let created = api
        .call(
            Method::POST,
            "/ferrohub/hubs",
            Some(json!({"name": "plant2", "hostname": "plant2.local"})),
        )
        .await
        .unwrap();
    assert_eq!(created.status, StatusCode::CREATED);
    let dup = api
        .call(
            Method::POST,
            "/ferrohub/hubs",
            Some(json!({"name": "plant2", "hostname": "other.local"})),
        )
        .await
        .unwrap();
    assert_eq!(dup.status, StatusCode::CONFLICT);
    let reader = s.api_as(s.policy("registryReadWrite"));
    assert_eq!(
        reader
            .call(
                Method::POST,
                "/ferrohub/hubs",
                Some(json!({"name": "x", "hostname": "x.local"}))
            )
            .await
            .unwrap()
            .status,
        StatusCode::UNAUTHORIZED
    );

    let hub = ferrohub_protocol::HubName::new("plant2").unwrap();
    let owner = s.hub().directory().policy(&hub, "iothubowner").unwrap();
    let plant2 = s.api_as(ferrohub::connection_string::ServiceConnectionString {
        host_name: "plant2.local".into(),
        key_name: "iothubowner".into(),
        key: owner.primary_key.clone(),
    });
    // The default hub's owner key is not valid for the other hub, and vice versa.
    let mut wrong = s.owner.clone();
    wrong.host_name = "plant2.local".into();
    assert_eq!(
        s.api_as(wrong)
            .call(Method::GET, "/devices", None)
            .await
            .unwrap()
            .status,
        StatusCode::UNAUTHORIZED
    );

    s.create_device("same-id").await;
    assert_eq!(
        plant2
            .call(Method::GET, "/devices/same-id", None)
            .await
            .unwrap()
            .status,
        StatusCode::NOT_FOUND
    );
    let d = plant2
        .call_ok(Method::PUT, "/devices/same-id", Some(json!({})))
        .await
        .unwrap()
        .json()
        .unwrap();
    let key = d["authentication"]["symmetricKey"]["primaryKey"]
        .as_str()
        .unwrap();

    // A device of plant2 connects by naming plant2's host in its username and token.
    let mut raw = s.raw().await;
    let token = ferrohub_protocol::sas::sign(
        "plant2.local/devices/same-id",
        key,
        crate::support::unix_now() + 60,
        None,
    )
    .unwrap();
    let Packet::Connect(mut c) = crate::support::connect_packet("same-id", Some(token)) else {
        unreachable!()
    };
    c.username = Some("plant2.local/same-id/?api-version=2021-04-12".into());
    raw.send(&Packet::Connect(c)).await;
    assert!(
        matches!(raw.next().await, crate::support::Next::Packet(Packet::ConnAck(a)) if a.code == ferrohub_mqtt::ConnectReturnCode::Accepted)
    );
    // The same id in the default hub has different keys.
    let mut other = s.raw().await;
    other
        .send(&crate::support::connect_packet(
            "same-id",
            Some(device_token("same-id", key, 60)),
        ))
        .await;
    assert!(
        matches!(other.next().await, crate::support::Next::Packet(Packet::ConnAck(a)) if a.code == ferrohub_mqtt::ConnectReturnCode::NotAuthorized)
    );
    s.stop().await;
}

use ferrohub_mqtt::Packet;

#[tokio::test]
async fn host_name_aliases_reach_the_default_hub() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    let token = ferrohub_protocol::sas::sign(
        "alias.local/devices/dev1",
        &key,
        crate::support::unix_now() + 60,
        None,
    )
    .unwrap();
    let Packet::Connect(mut c) = crate::support::connect_packet("dev1", Some(token)) else {
        unreachable!()
    };
    c.username = Some("alias.local/dev1/?api-version=2021-04-12".into());
    raw.send(&Packet::Connect(c)).await;
    assert!(
        matches!(raw.next().await, crate::support::Next::Packet(Packet::ConnAck(a)) if a.code == ferrohub_mqtt::ConnectReturnCode::Accepted)
    );
    s.stop().await;
}
