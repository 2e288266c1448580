//! Device-to-cloud telemetry through an independent client (rumqttc) and raw packets.

use std::time::Duration;

use bytes::Bytes;
use ferrohub_mqtt::{Packet, Publish, QoS, Will};
use hyper::{Method, StatusCode};
use rumqttc::{Event, Incoming};
use serde_json::json;

use crate::support::{Next, TestServer, device_token, get_json, rumqttc_device, wait_for};

#[tokio::test]
async fn rumqttc_telemetry_is_stored_with_properties_and_the_authenticated_identity() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let (client, mut events) = rumqttc_device(&s, "dev1", device_token("dev1", &key, 3600), false);
    wait_for(&mut events, |e| {
        matches!(e, Event::Incoming(Incoming::ConnAck(_)))
    })
    .await;
    let topic = "devices/dev1/messages/events/%24.mid=m%201&%24.cid=c1&%24.ct=application%2Fjson&%24.ce=utf-8&a%20b=x%26y%3Dz&%24.cdid=victim&iothub-connection-device-id=victim";
    client
        .publish(
            topic,
            rumqttc::QoS::AtLeastOnce,
            false,
            br#"{"t":21.5}"#.to_vec(),
        )
        .await
        .unwrap();
    wait_for(&mut events, |e| {
        matches!(e, Event::Incoming(Incoming::PubAck(_)))
    })
    .await;
    let events = s.events("dev1", 1).await;
    let e = &events[0];
    assert_eq!(e["body"], r#"{"t":21.5}"#);
    assert_eq!(e["properties"], json!({"a b": "x&y=z"}));
    let sys = &e["systemProperties"];
    assert_eq!(sys["message-id"], "m 1");
    assert_eq!(sys["correlation-id"], "c1");
    assert_eq!(sys["content-type"], "application/json");
    assert_eq!(sys["content-encoding"], "utf-8");
    assert_eq!(
        sys["iothub-connection-device-id"], "dev1",
        "identity comes from authentication"
    );
    assert_eq!(sys["iothub-message-source"], "Telemetry");
    assert!(
        sys["iothub-connection-auth-generation-id"]
            .as_str()
            .is_some()
    );
    assert!(sys["iothub-enqueuedtime"].as_str().is_some());
    s.stop().await;
}

#[tokio::test]
async fn many_pipelined_qos1_publishes_are_all_acknowledged_in_order_and_stored() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    let mut batch = bytes::BytesMut::new();
    for pid in 1..=200u16 {
        let p = Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: format!("devices/dev1/messages/events/seq={pid}"),
            packet_id: Some(pid),
            payload: Bytes::from(vec![b'x'; 256]),
        });
        ferrohub_mqtt::encode(&p, &mut batch).unwrap();
    }
    raw.send_bytes(&batch).await;
    for pid in 1..=200u16 {
        assert_eq!(
            raw.next().await,
            Next::Packet(Packet::PubAck(pid)),
            "PUBACKs in PUBLISH order"
        );
    }
    let events = s.events("dev1", 200).await;
    let seqs: Vec<String> = events
        .iter()
        .map(|e| e["properties"]["seq"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seqs, (1..=200).map(|i| i.to_string()).collect::<Vec<_>>());
    s.stop().await;
}

#[tokio::test]
async fn retain_is_forwarded_as_x_opt_retain() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    raw.send(&Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: true,
        topic: "devices/dev1/messages/events/".into(),
        packet_id: Some(1),
        payload: Bytes::from_static(b"r"),
    }))
    .await;
    assert_eq!(raw.next().await, Next::Packet(Packet::PubAck(1)));
    let e = &s.events("dev1", 1).await[0];
    assert_eq!(e["properties"]["x-opt-retain"], "true");
    s.stop().await;
}

#[tokio::test]
async fn a_will_is_sent_as_telemetry_when_the_connection_drops_without_disconnect() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    let Packet::Connect(mut c) =
        crate::support::connect_packet("dev1", Some(device_token("dev1", &key, 3600)))
    else {
        unreachable!()
    };
    c.will = Some(Will {
        topic: "devices/dev1/messages/events/state=lost".into(),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtLeastOnce,
        retain: false,
    });
    raw.send(&Packet::Connect(c)).await;
    assert!(matches!(raw.next().await, Next::Packet(Packet::ConnAck(_))));
    drop(raw);
    let e = &s.events("dev1", 1).await[0];
    assert_eq!(e["body"], "gone");
    assert_eq!(e["properties"]["iothub-MessageType"], "Will");
    assert_eq!(e["properties"]["state"], "lost");
    s.stop().await;
}

#[tokio::test]
async fn module_telemetry_carries_the_module_identity() {
    let s = TestServer::start().await;
    s.create_device("dev1").await;
    let key = s.create_module("dev1", "m1").await;
    let token = ferrohub_protocol::sas::sign(
        "localhost/devices/dev1/modules/m1",
        &key,
        crate::support::unix_now() + 3600,
        None,
    )
    .unwrap();
    let mut raw = s.raw().await;
    raw.send(&crate::support::connect_packet("dev1/m1", Some(token)))
        .await;
    assert!(
        matches!(raw.next().await, Next::Packet(Packet::ConnAck(a)) if a.code == ferrohub_mqtt::ConnectReturnCode::Accepted)
    );
    raw.publish_acked(
        "devices/dev1/modules/m1/messages/events/%24.on=out1/",
        7,
        &b"m"[..],
    )
    .await;
    let e = &s.events("dev1", 1).await[0];
    assert_eq!(e["systemProperties"]["iothub-connection-module-id"], "m1");
    assert_eq!(e["systemProperties"]["iothub-outputname"], "out1");
    s.stop().await;
}

#[tokio::test]
async fn a_message_over_256_kb_closes_the_connection_and_is_not_stored() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    raw.publish(
        "devices/dev1/messages/events/",
        QoS::AtLeastOnce,
        Some(1),
        Bytes::from(vec![0u8; 256 * 1024 + 1]),
    )
    .await;
    assert_eq!(raw.next_within(Duration::from_secs(2)).await, Next::Closed);
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    raw.publish_acked("devices/dev1/messages/events/marker=1", 2, &b"small"[..])
        .await;
    let events = s.events("dev1", 1).await;
    assert_eq!(
        events[0]["properties"]["marker"], "1",
        "the oversized message was not stored"
    );
    s.stop().await;
}

#[tokio::test]
async fn telemetry_and_devices_survive_a_restart() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    raw.publish_acked("devices/dev1/messages/events/n=1", 1, &b"before"[..])
        .await;
    drop(raw);
    let dir = s.stop().await;
    let s = TestServer::start_in(dir).await;
    let e = &s.events("dev1", 1).await[0];
    assert_eq!(e["body"], "before");
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    s.stop().await;
}

#[tokio::test]
async fn consumer_group_checkpoints_let_a_reader_resume() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let api = s.api();
    assert_eq!(
        api.call(Method::PUT, "/ferrohub/consumer-groups/readers", None)
            .await
            .unwrap()
            .status,
        StatusCode::CREATED
    );
    let groups = get_json(&api, "/ferrohub/consumer-groups").await;
    assert!(groups.as_array().unwrap().contains(&json!("$Default")));
    assert!(groups.as_array().unwrap().contains(&json!("readers")));
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    for pid in 1..=2u16 {
        raw.publish_acked(
            format!("devices/dev1/messages/events/n={pid}"),
            pid,
            &b"x"[..],
        )
        .await;
    }
    let first = &s.events("dev1", 1).await[0];
    let partition = first["partition"].as_u64().unwrap();
    let next = first["sequenceNumber"].as_u64().unwrap() + 1;
    api.call_ok(
        Method::POST,
        "/ferrohub/consumer-groups/readers/checkpoints",
        Some(json!([{"partition": partition, "nextSequenceNumber": next}])),
    )
    .await
    .unwrap();
    let log = s.hub().log_for(s.hub().default_hub()).unwrap();
    assert_eq!(
        log.checkpoint("readers", partition as u32).unwrap(),
        Some(next)
    );
    let missing = api
        .call(
            Method::POST,
            "/ferrohub/consumer-groups/nope/checkpoints",
            Some(json!([])),
        )
        .await
        .unwrap();
    assert_eq!(
        missing.status,
        StatusCode::NO_CONTENT,
        "an empty commit is a no-op"
    );
    assert_eq!(
        api.call(Method::DELETE, "/ferrohub/consumer-groups/$Default", None)
            .await
            .unwrap()
            .status,
        StatusCode::BAD_REQUEST
    );
    s.stop().await;
}

#[tokio::test]
async fn connection_lifecycle_and_twin_change_events_are_in_the_log_in_order() {
    use http_body_util::BodyExt;
    let s = TestServer::start().await;
    let key = s.create_device("ev1").await;
    let mut raw = s.raw().await;
    raw.connect_as("ev1", &key).await;
    s.api()
        .call_ok(
            Method::PATCH,
            "/twins/ev1",
            Some(json!({"properties": {"desired": {"x": 1}}})),
        )
        .await
        .unwrap();
    raw.send(&Packet::Disconnect).await;
    assert_eq!(raw.next().await, Next::Closed);
    s.api()
        .call_ok(Method::DELETE, "/devices/ev1", None)
        .await
        .unwrap();

    let response = s
        .api()
        .send(
            Method::GET,
            "/ferrohub/telemetry?from=earliest&deviceId=ev1&events=true",
            None,
        )
        .await
        .unwrap();
    let mut body = response.into_body();
    let mut pending = Vec::new();
    let mut ops = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while ops.len() < 5 {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .expect("events arrive")
            .unwrap()
            .unwrap();
        pending.extend_from_slice(&frame.into_data().unwrap_or_default());
        while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let e: serde_json::Value = serde_json::from_slice(&line).unwrap();
            ops.push((
                e["systemProperties"]["iothub-message-source"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                e["properties"]["opType"].as_str().unwrap().to_owned(),
            ));
        }
    }
    let expected = [
        ("deviceLifecycleEvents", "createDeviceIdentity"),
        ("deviceConnectionStateEvents", "deviceConnected"),
        ("twinChangeEvents", "updateTwin"),
        ("deviceConnectionStateEvents", "deviceDisconnected"),
        ("deviceLifecycleEvents", "deleteDeviceIdentity"),
    ];
    let got: Vec<(&str, &str)> = ops.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(got, expected);
    assert_eq!(
        s.telemetry_count("ev1").await,
        0,
        "without events=true, only telemetry is streamed"
    );
    s.stop().await;
}

/// `until=now` ends the stream after the events the log held when the request arrived.
#[tokio::test]
async fn a_stream_until_now_ends_after_what_the_log_held() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    for id in 1..=3 {
        raw.publish_acked("devices/dev1/messages/events/", id, &b"x"[..])
            .await;
    }
    // `telemetry_count` collects the whole body, so it returns only because the stream ends.
    assert_eq!(s.telemetry_count("dev1").await, 3);
    raw.publish_acked("devices/dev1/messages/events/", 4, &b"x"[..])
        .await;
    assert_eq!(s.telemetry_count("dev1").await, 4);
    assert_eq!(s.telemetry_count("someone-else").await, 0);
    let r = s
        .api()
        .call(Method::GET, "/ferrohub/telemetry?until=tomorrow", None)
        .await
        .unwrap();
    assert_eq!(r.status, hyper::StatusCode::BAD_REQUEST);
    assert!(
        r.error_line().contains("until must be now"),
        "{}",
        r.error_line()
    );
    s.stop().await;
}

/// Hostile D4 end to end: naming another device in `$.to` or `$.cdid` still sends as the
/// authenticated device; a bag with bad %-encoding or thousands of properties closes the
/// connection without a PUBACK, and nothing of it is stored.
#[tokio::test]
async fn forged_targets_send_as_oneself_and_malformed_bags_close_with_nothing_stored() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    s.create_device("victim").await;
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    raw.publish_acked(
        "devices/dev1/messages/events/%24.to=%2Fdevices%2Fvictim%2Fmessages%2Fevents&%24.cdid=victim",
        1,
        &b"mine"[..],
    )
    .await;
    let e = &s.events("dev1", 1).await[0];
    assert_eq!(e["systemProperties"]["iothub-connection-device-id"], "dev1");
    assert_eq!(s.telemetry_count("victim").await, 0);

    let thousands = (0..5_000)
        .map(|i| format!("k{i}=v"))
        .collect::<Vec<_>>()
        .join("&");
    for bag in ["bad=%zz", "%ff%fe=x", "k=%e2%28%a1", thousands.as_str()] {
        let mut raw = s.raw().await;
        raw.connect_as("dev1", &key).await;
        raw.publish(
            format!("devices/dev1/messages/events/{bag}"),
            QoS::AtLeastOnce,
            Some(2),
            Bytes::from_static(b"x"),
        )
        .await;
        assert_eq!(
            raw.next_within(Duration::from_secs(2)).await,
            Next::Closed,
            "{:.40}",
            bag
        );
    }
    assert_eq!(s.telemetry_count("dev1").await, 1, "only the first message");
    s.stop().await;
}

/// Hostile G5: a device whose PUBACK was lost resends the PUBLISH with DUP = 1, after
/// reconnecting or on the same connection before reading the first PUBACK. Every copy is
/// acknowledged and stored (at least once, as QoS 1 allows), so nothing is lost.
#[tokio::test]
async fn a_publish_resent_with_dup_is_acknowledged_and_stored() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let publish = |dup| {
        Packet::Publish(Publish {
            dup,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: "devices/dev1/messages/events/n=1".into(),
            packet_id: Some(5),
            payload: Bytes::from_static(b"once"),
        })
    };
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    raw.send(&publish(false)).await;
    // The connection is lost before its PUBACK is read.
    drop(raw);
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    raw.send(&publish(true)).await;
    assert_eq!(raw.next().await, Next::Packet(Packet::PubAck(5)));
    raw.send(&publish(false)).await;
    raw.send(&publish(true)).await;
    assert_eq!(raw.next().await, Next::Packet(Packet::PubAck(5)));
    assert_eq!(raw.next().await, Next::Packet(Packet::PubAck(5)));
    // The copy sent before the drop may or may not have been read by the server.
    let stored = s.telemetry_count("dev1").await;
    assert!((3..=4).contains(&stored), "{stored} copies stored");
    s.stop().await;
}

/// Hostile D8: ids with IoT Hub's special characters work over MQTT exactly as written:
/// the SAS `sr` (URL-encoded as the SDKs do), the CONNECT user name, the telemetry topic and
/// the C2D subscription all name the raw id, and the message is stored under it. Ids with
/// `+`, `#` or `/` cannot be created.
#[tokio::test]
async fn ids_with_special_characters_connect_publish_and_subscribe_as_written() {
    let s = TestServer::start().await;
    for id in ["x?y", "$x", "a%2Fb", "it's(1)!*=@,:"] {
        let key = s.create_device(id).await;
        let mut raw = s.raw().await;
        raw.connect_as(id, &key).await;
        raw.publish_acked(format!("devices/{id}/messages/events/k=v"), 1, &b"x"[..])
            .await;
        raw.send(&Packet::Subscribe(ferrohub_mqtt::Subscribe {
            packet_id: 2,
            filters: vec![(
                format!("devices/{id}/messages/devicebound/#"),
                QoS::AtLeastOnce,
            )],
        }))
        .await;
        assert_eq!(
            raw.next().await,
            Next::Packet(Packet::SubAck(ferrohub_mqtt::SubAck {
                packet_id: 2,
                codes: vec![ferrohub_mqtt::SubAckCode::Granted(QoS::AtLeastOnce)],
            })),
            "{id}"
        );
        let e = &s.events(id, 1).await[0];
        assert_eq!(e["systemProperties"]["iothub-connection-device-id"], id);
    }
    let api = s.api();
    for id in ["a+b", "a#b", "a/b"] {
        let r = api
            .call(
                Method::PUT,
                &format!("/devices/{}", ferrohub::client::segment(id)),
                Some(json!({"deviceId": id})),
            )
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{id}");
    }
    s.stop().await;
}

/// Hostile G4: a connection reset (RST) in the middle of a PUBLISH stores nothing of it,
/// and the device's next connection works as before.
#[tokio::test]
async fn a_reset_in_the_middle_of_a_publish_stores_nothing() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    let mut bytes = bytes::BytesMut::new();
    ferrohub_mqtt::encode(
        &Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: "devices/dev1/messages/events/cut=1".into(),
            packet_id: Some(1),
            payload: Bytes::from(vec![b'x'; 10_000]),
        }),
        &mut bytes,
    )
    .unwrap();
    raw.send_bytes(&bytes[..bytes.len() / 2]).await;
    raw.tls.get_ref().0.set_zero_linger().unwrap();
    drop(raw);

    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    raw.publish_acked("devices/dev1/messages/events/after=1", 1, &b"after"[..])
        .await;
    let events = s.events("dev1", 1).await;
    assert_eq!(events[0]["properties"]["after"], "1");
    assert_eq!(
        s.telemetry_count("dev1").await,
        1,
        "nothing of the cut message"
    );
    s.stop().await;
}

/// Hostile E7: a device writes 65,535 QoS 1 PUBLISHes (every packet id once) before reading
/// any PUBACK. Nothing is lost or reordered: once it reads, all 65,535 PUBACKs arrive in
/// order and every message is stored once. (The server keeps nothing per unread PUBACK: each
/// goes to the socket once its message is durable, so what waits is bounded by the socket
/// buffers, which hold the device's writes back when full.)
#[tokio::test]
async fn sixty_five_thousand_unread_pubacks_lose_and_reorder_nothing() {
    const COUNT: u16 = u16::MAX;
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    let (mut reader, mut writer) = tokio::io::split(raw.tls);
    let writes = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let mut out = bytes::BytesMut::new();
        for pid in 1..=COUNT {
            ferrohub_mqtt::encode(
                &Packet::Publish(Publish {
                    dup: false,
                    qos: QoS::AtLeastOnce,
                    retain: false,
                    topic: "devices/dev1/messages/events/".into(),
                    packet_id: Some(pid),
                    payload: Bytes::from_static(b"x"),
                }),
                &mut out,
            )
            .unwrap();
            if out.len() > 64 * 1024 {
                writer.write_all(&out).await.unwrap();
                out.clear();
            }
        }
        writer.write_all(&out).await.unwrap();
        writer.flush().await.unwrap();
        writer
    });
    // Not reading until the writer has finished, or for 2 s if full buffers hold it back.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while !writes.is_finished() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let mut buf = bytes::BytesMut::new();
    let mut expected = 1u16;
    loop {
        use tokio::io::AsyncReadExt;
        match ferrohub_mqtt::decode(&mut buf, &ferrohub_mqtt::Limits::default()).unwrap() {
            Some(Packet::PubAck(pid)) => {
                assert_eq!(pid, expected, "PUBACKs in order");
                if expected == COUNT {
                    break;
                }
                expected += 1;
            }
            Some(other) => panic!("unexpected {other:?}"),
            None => {
                let mut chunk = [0u8; 16 * 1024];
                let n = tokio::time::timeout(Duration::from_secs(10), reader.read(&mut chunk))
                    .await
                    .expect("PUBACKs stopped coming")
                    .unwrap();
                assert!(n > 0, "closed after {expected} PUBACKs");
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
    writes.await.unwrap();
    assert_eq!(s.telemetry_count("dev1").await, usize::from(COUNT));
    s.stop().await;
}
