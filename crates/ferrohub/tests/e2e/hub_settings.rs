//! Per-hub settings (`disableDeviceSAS`, `disableModuleSAS`) and what they do to SAS and
//! X.509 devices and modules, connecting and already connected.

use ferrohub::client::ApiClient;
use ferrohub_mqtt::{ConnectReturnCode, Packet};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use crate::certs::{
    Spec, code, connack_with_chain, connect_packet, connect_with_chain, issued_by, self_signed,
    sha1_hex,
};
use crate::support::{HOST, TestServer, device_token, get_json};
use crate::x509_ca::{register_ca_device, verified_root};

#[tokio::test]
async fn with_disable_device_sas_sas_devices_get_connack_5_while_x509_devices_still_connect() {
    let s = TestServer::start().await;
    let api = s.api();
    let key = s.create_device("sas-dev").await;
    let module_key = s.create_module("sas-dev", "mod1").await;
    let root = verified_root(&api, "root").await;
    register_ca_device(&api, "ca-dev").await;
    let self_made = self_signed(Spec::device("thumb-dev"));
    crate::x509::register_self_signed(&s, "thumb-dev", &sha1_hex(&self_made.der)).await;

    // Only the hub's owner may change the setting.
    let not_owner = s
        .api_as(s.policy("registryReadWrite"))
        .call(
            Method::PATCH,
            "/ferrohub/hubs/default",
            Some(json!({"disableDeviceSAS": true})),
        )
        .await
        .unwrap();
    assert_eq!(not_owner.status, StatusCode::UNAUTHORIZED);
    let updated = api
        .call_ok(
            Method::PATCH,
            "/ferrohub/hubs/default",
            Some(json!({"disableDeviceSAS": true})),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(updated["disableDeviceSAS"], true);

    let mut device = s.raw().await;
    device
        .send(&crate::support::connect_packet(
            "sas-dev",
            Some(device_token("sas-dev", &key, 60)),
        ))
        .await;
    assert_eq!(code(&device.next().await), ConnectReturnCode::NotAuthorized);
    assert_eq!(
        device.next_within(std::time::Duration::from_secs(1)).await,
        crate::support::Next::Closed,
        "the refusal is followed by a close"
    );
    let device_policy = s.policy("device");
    let policy_token = ferrohub_protocol::sas::sign(
        &format!("{HOST}/devices/sas-dev"),
        &device_policy.key,
        crate::support::unix_now() + 60,
        Some("device"),
    )
    .unwrap();
    let mut by_policy = s.raw().await;
    by_policy
        .send(&crate::support::connect_packet(
            "sas-dev",
            Some(policy_token),
        ))
        .await;
    assert_eq!(
        code(&by_policy.next().await),
        ConnectReturnCode::NotAuthorized
    );
    // Modules have their own setting in IoT Hub (disableModuleSAS); this one leaves them be.
    let (_module, answer) = connect_module(&s, "sas-dev", "mod1", &module_key).await;
    assert_eq!(answer, ConnectReturnCode::Accepted);

    let leaf = issued_by(Spec::device("ca-dev"), &root);
    assert_eq!(
        connack_with_chain(&s, &[&leaf], "ca-dev", HOST).await,
        ConnectReturnCode::Accepted
    );
    assert_eq!(
        connack_with_chain(&s, &[&self_made], "thumb-dev", HOST).await,
        ConnectReturnCode::Accepted
    );

    // The setting persists, reads back, and can be turned off again.
    let dir = s.stop().await;
    let s = TestServer::start_in(dir).await;
    let shown = get_json(&s.api(), "/ferrohub/hubs/default").await;
    assert_eq!(shown["disableDeviceSAS"], true);
    s.api()
        .call_ok(
            Method::PATCH,
            "/ferrohub/hubs/default",
            Some(json!({"disableDeviceSAS": false})),
        )
        .await
        .unwrap();
    let mut device = s.raw().await;
    device.connect_as("sas-dev", &key).await;
    s.stop().await;
}

#[tokio::test]
async fn with_disable_module_sas_modules_get_connack_5_while_devices_and_x509_modules_connect() {
    let s = TestServer::start().await;
    let api = s.api();
    let key = s.create_device("dev").await;
    let module_key = s.create_module("dev", "mod1").await;
    let root = verified_root(&api, "root").await;
    register_ca_device(&api, "ca-dev").await;
    api.call_ok(
        Method::PUT,
        "/devices/ca-dev/modules/camod",
        Some(json!({"authentication": {"type": "certificateAuthority"}})),
    )
    .await
    .unwrap();
    let updated = api
        .call_ok(
            Method::PATCH,
            "/ferrohub/hubs/default",
            Some(json!({"disableModuleSAS": true})),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(updated["disableModuleSAS"], true);
    assert_eq!(
        updated["disableDeviceSAS"], false,
        "the other setting stays"
    );

    let (_module, answer) = connect_module(&s, "dev", "mod1", &module_key).await;
    assert_eq!(answer, ConnectReturnCode::NotAuthorized);
    // The device itself still uses its key, and a module with a certificate connects.
    let mut device = s.raw().await;
    device.connect_as("dev", &key).await;
    let leaf = issued_by(Spec::device("ca-dev/camod"), &root);
    assert_eq!(
        connack_with_chain(&s, &[&leaf], "ca-dev/camod", HOST).await,
        ConnectReturnCode::Accepted
    );

    // Turned off again, the module's token works.
    set_default_hub(&api, json!({"disableModuleSAS": false})).await;
    let (_module, answer) = connect_module(&s, "dev", "mod1", &module_key).await;
    assert_eq!(answer, ConnectReturnCode::Accepted);
    s.stop().await;
}

#[tokio::test]
async fn turning_sas_off_ends_the_open_sas_connections_in_scope_and_no_others() {
    use crate::support::Next;
    let s = TestServer::start().await;
    let api = s.api();
    let key = s.create_device("sas-dev").await;
    let module_key = s.create_module("sas-dev", "mod1").await;
    let cert = self_signed(Spec::device("thumb-dev"));
    crate::x509::register_self_signed(&s, "thumb-dev", &sha1_hex(&cert.der)).await;

    let mut device = s.raw().await;
    device.connect_as("sas-dev", &key).await;
    let (mut module, answer) = connect_module(&s, "sas-dev", "mod1", &module_key).await;
    assert_eq!(answer, ConnectReturnCode::Accepted);
    let (mut x509, answer) = connect_with_chain(&s, &[&cert], "thumb-dev", HOST).await;
    assert_eq!(code(&answer), ConnectReturnCode::Accepted);

    set_default_hub(&api, json!({"disableDeviceSAS": true})).await;
    assert_eq!(
        device.next().await,
        Next::Closed,
        "the device's SAS session ends"
    );
    assert_alive(&mut module, "modules are out of scope").await;
    assert_alive(&mut x509, "certificates are unaffected").await;

    set_default_hub(&api, json!({"disableModuleSAS": true})).await;
    assert_eq!(
        module.next().await,
        Next::Closed,
        "the module's SAS session ends"
    );
    assert_alive(&mut x509, "certificates are unaffected").await;
    s.stop().await;
}

/// Connects `device/module` with a token signed by the module's key; the CONNACK code.
async fn connect_module(
    s: &TestServer,
    device: &str,
    module: &str,
    key: &str,
) -> (crate::support::RawClient, ConnectReturnCode) {
    let token = ferrohub_protocol::sas::sign(
        &format!("{HOST}/devices/{device}/modules/{module}"),
        key,
        crate::support::unix_now() + 600,
        None,
    )
    .unwrap();
    let mut client = s.raw().await;
    client
        .send(&connect_packet(
            &format!("{device}/{module}"),
            HOST,
            Some(token),
        ))
        .await;
    let answer = code(&client.next().await);
    (client, answer)
}

/// Changes the default hub's settings as its owner.
async fn set_default_hub(api: &ApiClient, settings: Value) {
    api.call_ok(Method::PATCH, "/ferrohub/hubs/default", Some(settings))
        .await
        .unwrap();
}

/// The connection still answers a PINGREQ.
async fn assert_alive(client: &mut crate::support::RawClient, why: &str) {
    client.send(&Packet::PingReq).await;
    assert_eq!(
        client.next().await,
        crate::support::Next::Packet(Packet::PingResp),
        "{why}"
    );
}
