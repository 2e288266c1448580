//! Cloud-to-device messages end to end: REST send, MQTT delivery, PUBACK completion,
//! redelivery after reconnect, queue limits, purge and feedback.

use std::time::Duration;

use ferrohub_mqtt::{Packet, QoS, Subscribe};
use hyper::{Method, StatusCode};
use serde_json::json;

use crate::support::{
    Next, RawClient, TestServer, connect_adjusted, connect_packet, device_token, get_json,
    get_status,
};

async fn subscribe_c2d(raw: &mut RawClient, device: &str) {
    raw.send(&Packet::Subscribe(Subscribe {
        packet_id: 1,
        filters: vec![(
            format!("devices/{device}/messages/devicebound/#"),
            QoS::AtLeastOnce,
        )],
    }))
    .await;
    assert!(matches!(raw.next().await, Next::Packet(Packet::SubAck(_))));
}

async fn send(s: &TestServer, device: &str, body: serde_json::Value) -> crate::support::Sent {
    let r = s
        .api()
        .call(
            Method::POST,
            &format!("/ferrohub/devices/{device}/messages/devicebound"),
            Some(body),
        )
        .await
        .unwrap();
    crate::support::Sent {
        status: r.status,
        body: r.json().unwrap_or_default(),
    }
}

/// Reconnects as `device` and asserts that `first` (never acknowledged) comes again, with DUP.
async fn assert_redelivered_after_reconnect(
    s: &TestServer,
    device: &str,
    key: &str,
    first: &ferrohub_mqtt::Publish,
) {
    let mut back = s.raw().await;
    back.connect_as(device, key).await;
    let again = delivery(&mut back).await;
    assert!(again.dup, "a redelivery carries DUP");
    assert_eq!(again.payload, first.payload);
}

/// A new device `id` that connected with a persistent session, subscribed to C2D and
/// disconnected cleanly. Returns its key.
async fn subscribed_then_offline(s: &TestServer, id: &str) -> String {
    let key = s.create_device(id).await;
    let mut raw = s.raw().await;
    raw.connect_as(id, &key).await;
    subscribe_c2d(&mut raw, id).await;
    raw.send(&Packet::Disconnect).await;
    assert_eq!(raw.next().await, Next::Closed);
    key
}

async fn delivery(raw: &mut RawClient) -> ferrohub_mqtt::Publish {
    match raw.next().await {
        Next::Packet(Packet::Publish(p)) => p,
        other => panic!("expected a C2D delivery, got {other:?}"),
    }
}

#[tokio::test]
async fn a_message_is_delivered_with_its_properties_and_completed_by_puback() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    subscribe_c2d(&mut raw, "dev1").await;
    let sent = send(&s, "dev1", json!({"body": "hello", "messageId": "m1", "correlationId": "c1", "contentType": "text/plain", "properties": {"a b": "x&y"}})).await;
    assert_eq!(sent.status, StatusCode::CREATED);
    assert_eq!(sent.body["messageId"], "m1");
    let p = delivery(&mut raw).await;
    assert_eq!(p.qos, QoS::AtLeastOnce);
    assert_eq!(&p.payload[..], b"hello");
    let bag = p
        .topic
        .strip_prefix("devices/dev1/messages/devicebound/")
        .unwrap();
    let props = ferrohub_protocol::property_bag::decode(bag).unwrap();
    let get = |k: &str| {
        props
            .iter()
            .find(|p| p.key == k)
            .and_then(|p| p.value.clone())
    };
    assert_eq!(get("$.mid").as_deref(), Some("m1"));
    assert_eq!(get("$.cid").as_deref(), Some("c1"));
    assert_eq!(get("$.ct").as_deref(), Some("text/plain"));
    assert_eq!(
        get("$.to").as_deref(),
        Some("/devices/dev1/messages/devicebound")
    );
    assert_eq!(get("iothub-ack").as_deref(), Some("none"));
    assert_eq!(get("a b").as_deref(), Some("x&y"));
    assert!(bag.starts_with("%24.mid="), "system keys travel as %24.");
    raw.send(&Packet::PubAck(p.packet_id.unwrap())).await;
    // Completed: after a reconnect nothing is delivered again.
    raw.send(&Packet::Disconnect).await;
    let mut again = s.raw().await;
    again.connect_as("dev1", &key).await;
    again.send(&Packet::PingReq).await;
    assert_eq!(again.next().await, Next::Packet(Packet::PingResp));
    assert_eq!(
        s.hub()
            .c2d_queue_depth(
                s.hub().default_hub(),
                &ferrohub_protocol::DeviceId::new("dev1").unwrap()
            )
            .await
            .unwrap(),
        0
    );
    s.stop().await;
}

#[tokio::test]
async fn messages_sent_while_offline_arrive_on_reconnect_without_resubscribing() {
    let s = TestServer::start().await;
    let key = subscribed_then_offline(&s, "dev1").await;
    for i in 0..3 {
        assert_eq!(
            send(&s, "dev1", json!({"body": format!("m{i}")}))
                .await
                .status,
            StatusCode::CREATED
        );
    }
    let mut back = s.raw().await;
    back.send(&connect_packet(
        "dev1",
        Some(device_token("dev1", &key, 60)),
    ))
    .await;
    assert!(matches!(back.next().await, Next::Packet(Packet::ConnAck(a)) if a.session_present));
    for i in 0..3 {
        let p = delivery(&mut back).await;
        assert_eq!(p.payload, format!("m{i}").as_bytes(), "FIFO order");
        back.send(&Packet::PubAck(p.packet_id.unwrap())).await;
    }
    s.stop().await;
}

#[tokio::test]
async fn an_unacknowledged_message_is_redelivered_with_dup_after_reconnect() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    subscribe_c2d(&mut raw, "dev1").await;
    send(&s, "dev1", json!({"body": "once"})).await;
    let first = delivery(&mut raw).await;
    assert!(!first.dup);
    drop(raw);
    assert_redelivered_after_reconnect(&s, "dev1", &key, &first).await;
    s.stop().await;
}

/// Hostile C8: when the server closes a connection because its token expired, a message it
/// delivered without a PUBACK is delivered again (DUP) after the device reconnects.
#[tokio::test]
async fn an_unacknowledged_message_is_redelivered_after_a_token_expiry_close() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    // Four seconds leave the subscription and the delivery time to happen first, even on a
    // loaded machine.
    raw.send(&connect_packet("dev1", Some(device_token("dev1", &key, 4))))
        .await;
    assert!(matches!(raw.next().await, Next::Packet(Packet::ConnAck(_))));
    subscribe_c2d(&mut raw, "dev1").await;
    send(&s, "dev1", json!({"body": "before expiry"})).await;
    let first = delivery(&mut raw).await;
    assert!(!first.dup);
    // No PUBACK; the token runs out and the server closes.
    assert_eq!(raw.next_within(Duration::from_secs(8)).await, Next::Closed);
    assert_redelivered_after_reconnect(&s, "dev1", &key, &first).await;
    s.stop().await;
}

#[tokio::test]
async fn the_fifty_first_queued_message_is_refused_and_other_devices_are_unaffected() {
    let s = TestServer::start().await;
    s.create_device("full").await;
    s.create_device("other").await;
    for i in 0..50 {
        assert_eq!(
            send(&s, "full", json!({"body": format!("{i}")}))
                .await
                .status,
            StatusCode::CREATED
        );
    }
    let device = get_json(&s.api(), "/devices/full").await;
    assert_eq!(device["cloudToDeviceMessageCount"], 50);
    let twin = get_json(&s.api(), "/twins/full").await;
    assert_eq!(twin["cloudToDeviceMessageCount"], 50);
    let refused = send(&s, "full", json!({"body": "51"})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body["Message"]
            .as_str()
            .unwrap()
            .starts_with("ErrorCode:DeviceMaximumQueueDepthExceeded;")
    );
    assert_eq!(
        send(&s, "other", json!({"body": "fine"})).await.status,
        StatusCode::CREATED
    );
    let purged = s
        .api()
        .call_ok(Method::DELETE, "/devices/full/commands", None)
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        purged,
        json!({"totalMessagesPurged": 50, "deviceId": "full", "moduleId": null})
    );
    assert_eq!(
        send(&s, "full", json!({"body": "after purge"}))
            .await
            .status,
        StatusCode::CREATED
    );
    s.stop().await;
}

#[tokio::test]
async fn invalid_sends_are_refused_with_4xx() {
    let s = TestServer::start().await;
    s.create_device("dev1").await;
    assert_eq!(
        send(&s, "nobody", json!({"body": "x"})).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&s, "dev1", json!({"body": "x".repeat(64 * 1024 + 1)}))
            .await
            .status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        send(&s, "dev1", json!({"body": "x", "ttlSeconds": 172_801}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(&s, "dev1", json!({"body": "x", "ack": "sometimes"}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    s.stop().await;
}

#[tokio::test]
async fn positive_acks_produce_success_feedback_that_can_be_completed() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    subscribe_c2d(&mut raw, "dev1").await;
    send(
        &s,
        "dev1",
        json!({"body": "fb", "messageId": "fb-1", "ack": "full"}),
    )
    .await;
    let p = delivery(&mut raw).await;
    raw.send(&Packet::PubAck(p.packet_id.unwrap())).await;
    raw.send(&Packet::PingReq).await;
    assert_eq!(raw.next().await, Next::Packet(Packet::PingResp));
    let api = s.api();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let batch = loop {
        let r = api
            .call(Method::GET, "/messages/serviceBound/feedback", None)
            .await
            .unwrap();
        if r.status == StatusCode::OK {
            break r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no feedback arrived"
        );
    };
    let records = batch.json().unwrap();
    assert_eq!(records[0]["originalMessageId"], "fb-1");
    assert_eq!(records[0]["statusCode"], "Success");
    assert_eq!(records[0]["deviceId"], "dev1");
    let lock = batch.etag().unwrap();
    assert_eq!(
        get_status(&api, "/messages/serviceBound/feedback").await,
        StatusCode::NO_CONTENT,
        "a locked batch is not handed out twice"
    );
    assert_eq!(
        api.call(
            Method::DELETE,
            &format!("/messages/serviceBound/feedback/{lock}"),
            None
        )
        .await
        .unwrap()
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.call(
            Method::DELETE,
            &format!("/messages/serviceBound/feedback/{lock}"),
            None
        )
        .await
        .unwrap()
        .status,
        StatusCode::PRECONDITION_FAILED
    );
    s.stop().await;
}

#[tokio::test]
async fn a_deleted_device_with_a_persistent_session_gets_nothing_after_reconnect() {
    let s = TestServer::start().await;
    let key = subscribed_then_offline(&s, "dev1").await;
    send(&s, "dev1", json!({"body": "secret"})).await;
    s.api()
        .call_ok(Method::DELETE, "/devices/dev1", None)
        .await
        .unwrap();
    // Re-created with the same keys: a new identity, with no session and no queue.
    s.api()
        .call_ok(
            Method::PUT,
            "/devices/dev1",
            Some(json!({"authentication": {"symmetricKey": {"primaryKey": key, "secondaryKey": key}}})),
        )
        .await
        .unwrap();
    let mut back = s.raw().await;
    back.send(&connect_packet(
        "dev1",
        Some(device_token("dev1", &key, 60)),
    ))
    .await;
    assert!(matches!(back.next().await, Next::Packet(Packet::ConnAck(a)) if !a.session_present));
    back.send(&Packet::PingReq).await;
    assert_eq!(
        back.next().await,
        Next::Packet(Packet::PingResp),
        "no message of the deleted device arrives"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_subscriber_that_never_reads_gets_a_bounded_window_is_dropped_and_keeps_its_messages() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    raw.send(&connect_adjusted("dev1", &key, |c| {
        c.keep_alive = 1;
        c.clean_session = false;
    }))
    .await;
    assert!(matches!(raw.next().await, Next::Packet(Packet::ConnAck(_))));
    subscribe_c2d(&mut raw, "dev1").await;
    for i in 0..30 {
        assert_eq!(
            send(&s, "dev1", json!({"body": format!("m{i}")}))
                .await
                .status,
            StatusCode::CREATED
        );
    }
    // The device never reads nor acknowledges: the keep-alive deadline ends it, and every
    // message is still queued for its next connection.
    let started = std::time::Instant::now();
    let mut delivered = 0;
    loop {
        match raw.next_within(Duration::from_secs(4)).await {
            Next::Packet(Packet::Publish(_)) => delivered += 1,
            Next::Closed => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(
        delivered, 16,
        "at most the in-flight window is handed to an unresponsive device"
    );
    let device = ferrohub_protocol::DeviceId::new("dev1").unwrap();
    assert_eq!(
        s.hub()
            .c2d_queue_depth(s.hub().default_hub(), &device)
            .await
            .unwrap(),
        30
    );
    s.stop().await;
}

/// Hostile D9, disabled variant: a device disabled while its persistent session holds a
/// C2D subscription and a queued message gets CONNACK 3 and nothing else. Enabled again, it
/// finds its session and the message: disabling blocks a device, it erases nothing.
#[tokio::test]
async fn a_disabled_device_with_a_persistent_session_gets_nothing_until_enabled() {
    let s = TestServer::start().await;
    let key = subscribed_then_offline(&s, "dev1").await;
    send(&s, "dev1", json!({"body": "kept", "messageId": "m-kept"})).await;
    let set_status = async |status: &str| {
        s.api()
            .send_with_headers(
                Method::PUT,
                "/devices/dev1",
                Some(json!({"status": status})),
                &[("if-match", "*".into())],
            )
            .await
            .unwrap();
    };
    set_status("disabled").await;
    let mut refused = s.raw().await;
    refused
        .send(&connect_packet(
            "dev1",
            Some(device_token("dev1", &key, 60)),
        ))
        .await;
    assert!(matches!(
        refused.next().await,
        Next::Packet(Packet::ConnAck(a)) if a.code == ferrohub_mqtt::ConnectReturnCode::ServerUnavailable
    ));
    assert_eq!(
        refused.next_within(Duration::from_secs(1)).await,
        Next::Closed,
        "closed after CONNACK 3, with no message"
    );

    set_status("enabled").await;
    let mut back = s.raw().await;
    back.connect_expecting_session("dev1", &key, true).await;
    let p = delivery(&mut back).await;
    assert_eq!(&p.payload[..], b"kept");
    s.stop().await;
}

/// Hostile G3 repeated: 100 rounds of 3 simultaneous CONNECTs for one identity
/// (CleanSession=0) each leave exactly one connection, and the session stays whole through
/// all of them: every racer is told its session is present, the C2D subscription made
/// before the first round delivers to the last survivor, and the hub counts one connected
/// device.
#[tokio::test]
async fn repeated_connect_races_leave_one_connection_and_a_whole_session() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let mut first = s.raw().await;
    first.connect_as("dev1", &key).await;
    subscribe_c2d(&mut first, "dev1").await;
    let token = device_token("dev1", &key, 3600);
    let mut survivor = Some(first);
    for round in 0..100 {
        let mut racers = Vec::new();
        for _ in 0..3 {
            racers.push(s.raw().await);
        }
        let answered: Vec<_> = racers
            .into_iter()
            .map(|mut racer| {
                let token = token.clone();
                tokio::spawn(async move {
                    racer.send(&connect_packet("dev1", Some(token))).await;
                    match racer.next().await {
                        Next::Packet(Packet::ConnAck(a)) => assert!(a.session_present),
                        other => panic!("expected CONNACK, got {other:?}"),
                    }
                    racer
                })
            })
            .collect();
        // Every CONNECT answered before probing: a racer probed before a later one registers
        // is still the newest and rightly answers.
        let mut connected = Vec::new();
        for racer in answered {
            connected.push(racer.await.unwrap());
        }
        let mut alive = Vec::new();
        for mut racer in connected {
            racer.send(&Packet::PingReq).await;
            if racer.next_within(Duration::from_secs(2)).await == Next::Packet(Packet::PingResp) {
                alive.push(racer);
            }
        }
        assert_eq!(
            alive.len(),
            1,
            "round {round}: {} connections alive",
            alive.len()
        );
        survivor = alive.pop();
    }
    let mut survivor = survivor.unwrap();
    send(
        &s,
        "dev1",
        json!({"body": "still subscribed", "messageId": "g3"}),
    )
    .await;
    let p = delivery(&mut survivor).await;
    assert_eq!(&p.payload[..], b"still subscribed");
    assert_eq!(s.connected_devices().await, 1);
    s.stop().await;
}

/// Hostile E6: a device that stops reading its socket (its TCP window closes) while its
/// keep-alive is still satisfied is dropped once a write to it has blocked for the write
/// timeout (2 s in this test, 30 s by default), and the C2D messages it never acknowledged
/// stay queued.
#[tokio::test]
async fn a_device_that_stops_reading_is_dropped_at_the_write_timeout_and_keeps_its_messages() {
    let s = TestServer::start_with(tempfile::tempdir().unwrap(), |o| {
        o.write_timeout = ferrohub_gateway::driver::WriteTimeout(Duration::from_secs(2));
    })
    .await;
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    subscribe_c2d(&mut raw, "dev1").await;
    raw.send(&Packet::Subscribe(Subscribe {
        packet_id: 2,
        filters: vec![(
            "$iothub/twin/PATCH/properties/desired/#".into(),
            QoS::AtLeastOnce,
        )],
    }))
    .await;
    assert!(matches!(raw.next().await, Next::Packet(Packet::SubAck(_))));
    for i in 0..3 {
        send(
            &s,
            "dev1",
            json!({"body": "unacknowledged", "messageId": format!("m{i}")}),
        )
        .await;
    }
    // From here on the device reads nothing. Desired patches of 28 KB each soon fill every
    // buffer between the server and it.
    let chunk = "x".repeat(4000);
    let api = s.api();
    let mut dropped = false;
    for i in 0..2000 {
        let desired: serde_json::Map<String, serde_json::Value> = (0..7)
            .map(|k| (format!("k{k}"), json!(format!("{i}{chunk}"))))
            .collect();
        api.call_ok(
            Method::PATCH,
            "/twins/dev1",
            Some(json!({"properties": {"desired": desired}})),
        )
        .await
        .unwrap();
        if i % 25 == 0 {
            let device = get_json(&api, "/devices/dev1").await;
            if device["connectionState"] == "Disconnected" {
                assert_eq!(
                    device["cloudToDeviceMessageCount"], 3,
                    "unacknowledged messages stay queued"
                );
                dropped = true;
                break;
            }
        }
    }
    assert!(dropped, "still connected after 2,000 unread patches");
    drop(raw);
    s.stop().await;
}
