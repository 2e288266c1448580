//! Direct methods end to end: REST call in, MQTT request out, device answer back.

use std::time::Duration;

use bytes::Bytes;
use ferrohub_mqtt::{Packet, QoS, Subscribe};
use hyper::{Method, StatusCode};
use serde_json::json;

use crate::support::{Next, RawClient, TestServer};

async fn subscribe_methods(raw: &mut RawClient) {
    raw.send(&Packet::Subscribe(Subscribe {
        packet_id: 1,
        filters: vec![("$iothub/methods/POST/#".into(), QoS::AtMostOnce)],
    }))
    .await;
    assert!(matches!(raw.next().await, Next::Packet(Packet::SubAck(_))));
}

/// Waits for the method request and returns (name, rid, payload).
async fn method_request(raw: &mut RawClient) -> (String, String, Bytes) {
    match raw.next().await {
        Next::Packet(Packet::Publish(p)) => {
            let rest = p
                .topic
                .strip_prefix("$iothub/methods/POST/")
                .expect("a method topic");
            let (name, query) = rest.split_once("/?$rid=").expect("a $rid");
            (name.to_owned(), query.to_owned(), p.payload)
        }
        other => panic!("expected a method request, got {other:?}"),
    }
}

async fn answer(raw: &mut RawClient, rid: &str, status: u16, body: &'static [u8]) {
    raw.publish_acked(format!("$iothub/methods/res/{status}/?$rid={rid}"), 9, body)
        .await;
}

#[tokio::test]
async fn a_method_call_reaches_the_device_and_returns_its_answer() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    subscribe_methods(&mut raw).await;
    let api = s.api();
    let call = tokio::spawn(async move {
        api.call(Method::POST, "/twins/dev1/methods", Some(json!({"methodName": "reboot", "payload": {"delay": 5}, "responseTimeoutInSeconds": 10})))
            .await
            .unwrap()
    });
    let (name, rid, payload) = method_request(&mut raw).await;
    assert_eq!(name, "reboot");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&payload).unwrap(),
        json!({"delay": 5})
    );
    answer(&mut raw, &rid, 201, br#"{"rebooting":true}"#).await;
    let r = call.await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json().unwrap(),
        json!({"status": 201, "payload": {"rebooting": true}})
    );
    s.stop().await;
}

#[tokio::test]
async fn a_missing_payload_is_sent_as_json_null() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    subscribe_methods(&mut raw).await;
    let api = s.api();
    let call = tokio::spawn(async move {
        api.call(
            Method::POST,
            "/twins/dev1/methods",
            Some(json!({"methodName": "ping"})),
        )
        .await
        .unwrap()
    });
    let (_, rid, payload) = method_request(&mut raw).await;
    assert_eq!(
        &payload[..],
        b"null",
        "never an empty body (the Node SDK parses it)"
    );
    answer(&mut raw, &rid, 200, b"").await;
    assert_eq!(
        call.await.unwrap().json().unwrap(),
        json!({"status": 200, "payload": null})
    );
    s.stop().await;
}

#[tokio::test]
async fn a_device_that_is_offline_or_not_subscribed_is_404103() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let offline = s
        .api()
        .call(
            Method::POST,
            "/twins/dev1/methods",
            Some(json!({"methodName": "m"})),
        )
        .await
        .unwrap();
    assert_eq!(offline.status, StatusCode::NOT_FOUND);
    assert!(
        offline.json().unwrap()["Message"]
            .as_str()
            .unwrap()
            .starts_with("ErrorCode:DeviceNotOnline;")
    );
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    let unsubscribed = s
        .api()
        .call(
            Method::POST,
            "/twins/dev1/methods",
            Some(json!({"methodName": "m"})),
        )
        .await
        .unwrap();
    assert_eq!(unsubscribed.status, StatusCode::NOT_FOUND);
    let unknown = s
        .api()
        .call(
            Method::POST,
            "/twins/nobody/methods",
            Some(json!({"methodName": "m"})),
        )
        .await
        .unwrap();
    assert!(
        unknown.json().unwrap()["Message"]
            .as_str()
            .unwrap()
            .starts_with("ErrorCode:DeviceNotFound;")
    );
    s.stop().await;
}

#[tokio::test]
async fn the_call_waits_up_to_the_connect_timeout_for_the_device() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let api = s.api();
    let call = tokio::spawn(async move {
        api.call(
            Method::POST,
            "/twins/dev1/methods",
            Some(json!({"methodName": "late", "connectTimeoutInSeconds": 20})),
        )
        .await
        .unwrap()
    });
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    subscribe_methods(&mut raw).await;
    let (_, rid, _) = method_request(&mut raw).await;
    answer(&mut raw, &rid, 200, b"\"done\"").await;
    assert_eq!(
        call.await.unwrap().json().unwrap(),
        json!({"status": 200, "payload": "done"})
    );
    s.stop().await;
}

#[tokio::test]
async fn an_unanswered_call_is_504_and_another_device_cannot_answer_it() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let other_key = s.create_device("dev2").await;
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    subscribe_methods(&mut raw).await;
    let api = s.api();
    let started = std::time::Instant::now();
    let call = tokio::spawn(async move {
        api.call(
            Method::POST,
            "/twins/dev1/methods",
            Some(json!({"methodName": "slow", "responseTimeoutInSeconds": 5})),
        )
        .await
        .unwrap()
    });
    let (_, rid, _) = method_request(&mut raw).await;
    let mut intruder = s.raw().await;
    intruder.connect_as("dev2", &other_key).await;
    answer(&mut intruder, &rid, 200, b"\"forged\"").await;
    let r = call.await.unwrap();
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(
        r.json().unwrap()["Message"]
            .as_str()
            .unwrap()
            .starts_with("ErrorCode:GatewayTimeout;")
    );
    assert!(started.elapsed() >= Duration::from_secs(5));
    s.stop().await;
}

#[tokio::test]
async fn module_methods_go_to_the_module_connection() {
    let s = TestServer::start().await;
    s.create_device("dev1").await;
    let key = s.create_module("dev1", "m1").await;
    let token = ferrohub_protocol::sas::sign(
        "localhost/devices/dev1/modules/m1",
        &key,
        crate::support::unix_now() + 60,
        None,
    )
    .unwrap();
    let mut raw = s.raw().await;
    raw.send(&crate::support::connect_packet("dev1/m1", Some(token)))
        .await;
    assert!(matches!(raw.next().await, Next::Packet(Packet::ConnAck(_))));
    subscribe_methods(&mut raw).await;
    let api = s.api();
    let call = tokio::spawn(async move {
        api.call(
            Method::POST,
            "/twins/dev1/modules/m1/methods",
            Some(json!({"methodName": "mm"})),
        )
        .await
        .unwrap()
    });
    let (name, rid, _) = method_request(&mut raw).await;
    assert_eq!(name, "mm");
    answer(&mut raw, &rid, 200, b"1").await;
    assert_eq!(
        call.await.unwrap().json().unwrap(),
        json!({"status": 200, "payload": 1})
    );
    s.stop().await;
}

#[tokio::test]
async fn invalid_method_calls_are_400() {
    let s = TestServer::start().await;
    s.create_device("dev1").await;
    let api = s.api();
    for body in [
        json!({}),
        json!({"methodName": "a/b"}),
        json!({"methodName": "m", "responseTimeoutInSeconds": 1}),
        json!({"methodName": "m", "connectTimeoutInSeconds": 301}),
        json!({"methodName": "m", "responseTimeoutInSeconds": "soon"}),
    ] {
        let r = api
            .call(Method::POST, "/twins/dev1/methods", Some(body.clone()))
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
    }
    let big = json!({"methodName": "m", "payload": "x".repeat(128 * 1024)});
    assert_eq!(
        api.call(Method::POST, "/twins/dev1/methods", Some(big))
            .await
            .unwrap()
            .status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    s.stop().await;
}

/// Hostile E9: 1,000 concurrent calls to one device that never answers: 32 wait and time out
/// (504), the other 968 are refused at once (429). Nothing leaks: afterwards a call the
/// device answers succeeds, so every waiting slot was given back. (Each call is a connection
/// with both ends in this process; where the hard limit on open files is low, fewer calls
/// are made, at least 100.)
#[tokio::test]
async fn concurrent_calls_beyond_the_per_device_bound_are_throttled_and_nothing_leaks() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    subscribe_methods(&mut raw).await;
    let call = |name: &'static str| {
        let api = s.api();
        tokio::spawn(async move {
            api.call(
                Method::POST,
                "/twins/dev1/methods",
                Some(json!({"methodName": name, "responseTimeoutInSeconds": 5})),
            )
            .await
            .unwrap()
            .status
        })
    };
    let count = usize::try_from(crate::support::open_file_limit() / 6)
        .unwrap_or(usize::MAX)
        .clamp(100, 1000);
    let calls: Vec<_> = (0..count).map(|_| call("busy")).collect();
    let mut throttled = 0;
    let mut timed_out = 0;
    for c in calls {
        match c.await.unwrap() {
            StatusCode::TOO_MANY_REQUESTS => throttled += 1,
            StatusCode::GATEWAY_TIMEOUT => timed_out += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(timed_out, 32, "at most 32 calls wait on one device");
    assert_eq!(throttled, count - 32);

    let answered = call("ok");
    loop {
        let (name, rid, _) = method_request(&mut raw).await;
        if name == "ok" {
            answer(&mut raw, &rid, 200, b"{}").await;
            break;
        }
    }
    assert_eq!(answered.await.unwrap(), StatusCode::OK);
    s.stop().await;
}
