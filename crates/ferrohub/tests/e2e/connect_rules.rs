//! Hostile group B (CONNECT) and D (authorization) through raw packets.

use std::time::Duration;

use bytes::Bytes;
use ferrohub_mqtt::{ConnectReturnCode, Packet, QoS, Subscribe, Will};

use crate::support::{Next, TestServer, connect_adjusted, connect_packet, device_token, get_json};

fn connack(code: ConnectReturnCode) -> Next {
    Next::Packet(Packet::ConnAck(ferrohub_mqtt::ConnAck {
        session_present: false,
        code,
    }))
}

pub async fn protocol_level_5_gets_connack_1_then_close(s: &TestServer) {
    let mut raw = s.raw().await;
    // CONNECT, "MQTT", level 5, flags 0x02, keep-alive 60, MQTT 5 properties length 0, id "a".
    raw.send_bytes(&[
        0x10, 0x0e, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 60, 0, 0, 1, b'a',
    ])
    .await;
    assert_eq!(
        raw.next().await,
        connack(ConnectReturnCode::UnacceptableProtocolVersion)
    );
    assert_eq!(raw.next_within(Duration::from_secs(1)).await, Next::Closed);
}

pub async fn a_protocol_name_other_than_mqtt_closes_without_connack(s: &TestServer) {
    let mut raw = s.raw().await;
    raw.send_bytes(&[
        0x10, 0x0d, 0, 4, b'M', b'Q', b'X', b'X', 4, 0x02, 0, 60, 0, 1, b'a',
    ])
    .await;
    assert_eq!(raw.next_within(Duration::from_secs(1)).await, Next::Closed);
}

pub async fn a_reserved_connect_flag_closes(s: &TestServer) {
    let mut raw = s.raw().await;
    raw.send_bytes(&[
        0x10, 0x0d, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x03, 0, 60, 0, 1, b'a',
    ])
    .await;
    assert_eq!(raw.next_within(Duration::from_secs(1)).await, Next::Closed);
}

pub async fn empty_client_id_gets_connack_2(s: &TestServer) {
    let mut raw = s.raw().await;
    raw.send(&connect_packet("", Some("x".into()))).await;
    assert_eq!(
        raw.next().await,
        connack(ConnectReturnCode::IdentifierRejected)
    );
}

pub async fn a_username_naming_another_device_or_hub_is_refused(s: &TestServer) {
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    let Packet::Connect(mut c) = connect_packet("dev1", Some(device_token("dev1", &key, 60)))
    else {
        unreachable!()
    };
    c.username = Some("localhost/dev2/?api-version=2021-04-12".into());
    raw.send(&Packet::Connect(c.clone())).await;
    assert_eq!(
        raw.next().await,
        connack(ConnectReturnCode::IdentifierRejected)
    );
    let mut raw = s.raw().await;
    c.username = Some("foreign.example/dev1/?api-version=2021-04-12".into());
    raw.send(&Packet::Connect(c)).await;
    assert_eq!(raw.next().await, connack(ConnectReturnCode::NotAuthorized));
}

pub async fn a_second_connect_closes_the_connection_and_leaves_the_session_untouched(
    s: &TestServer,
) {
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await; // CleanSession=0
    raw.send(&Packet::Subscribe(Subscribe {
        packet_id: 1,
        filters: vec![(
            "devices/dev1/messages/devicebound/#".into(),
            QoS::AtLeastOnce,
        )],
    }))
    .await;
    assert!(matches!(raw.next().await, Next::Packet(Packet::SubAck(_))));
    // The second CONNECT asks for a clean session; it must not get one.
    raw.send(&connect_adjusted("dev1", &key, |c| {
        c.clean_session = true;
    }))
    .await;
    assert_eq!(raw.next_within(Duration::from_secs(1)).await, Next::Closed);
    let mut again = s.raw().await;
    again.connect_expecting_session("dev1", &key, true).await;
}

pub async fn any_packet_before_connect_closes(s: &TestServer) {
    let mut raw = s.raw().await;
    raw.send(&Packet::PingReq).await;
    assert_eq!(raw.next_within(Duration::from_secs(1)).await, Next::Closed);
}

/// B7: a large PUBLISH before CONNECT is refused from its header; the server does not wait
/// for (and buffer) the 200 KB body first.
pub async fn a_large_publish_before_connect_closes_from_its_header(s: &TestServer) {
    let mut raw = s.raw().await;
    // PUBLISH, remaining length 200,000 (varint c0 9a 0c), then only the start of a body.
    raw.send_bytes(&[0x30, 0xc0, 0x9a, 0x0c, 0x00, 0x01, b'a'])
        .await;
    assert_eq!(raw.next_within(Duration::from_secs(1)).await, Next::Closed);
}

pub async fn qos2_publish_closes_and_stores_nothing(s: &TestServer) {
    let stored = s.telemetry_count("dev1").await;
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    raw.publish(
        "devices/dev1/messages/events/",
        QoS::ExactlyOnce,
        Some(1),
        Bytes::from_static(b"q2"),
    )
    .await;
    assert_eq!(raw.next_within(Duration::from_secs(1)).await, Next::Closed);
    assert_eq!(s.telemetry_count("dev1").await, stored, "nothing is stored");
}

pub async fn a_will_for_another_device_or_an_iothub_topic_gets_connack_5(s: &TestServer) {
    let key = s.create_device("dev1").await;
    for topic in [
        "devices/dev2/messages/events/",
        "$iothub/twin/PATCH/properties/reported/?$rid=1",
        "$iothub/methods/res/200/?$rid=1",
    ] {
        let mut raw = s.raw().await;
        raw.send(&connect_adjusted("dev1", &key, |c| {
            c.will = Some(Will {
                topic: topic.into(),
                payload: Bytes::new(),
                qos: QoS::AtLeastOnce,
                retain: false,
            });
        }))
        .await;
        assert_eq!(
            raw.next().await,
            connack(ConnectReturnCode::NotAuthorized),
            "{topic}"
        );
    }
}

pub async fn publishing_as_another_device_closes_and_stores_nothing(s: &TestServer) {
    let stored = [
        s.telemetry_count("dev1").await,
        s.telemetry_count("dev2").await,
    ];
    let key = s.create_device("dev1").await;
    s.create_device("dev2").await;
    for topic in [
        "devices/dev2/messages/events/",
        "devices/dev1/messages/devicebound/",
        "$iothub/twin/PATCH/properties/desired/?$rid=1",
    ] {
        let mut raw = s.raw().await;
        raw.connect_as("dev1", &key).await;
        raw.publish(topic, QoS::AtLeastOnce, Some(1), Bytes::from_static(b"x"))
            .await;
        assert_eq!(
            raw.next_within(Duration::from_secs(1)).await,
            Next::Closed,
            "{topic}"
        );
    }
    assert_eq!(
        [
            s.telemetry_count("dev1").await,
            s.telemetry_count("dev2").await
        ],
        stored,
        "nothing is stored"
    );
}

pub async fn subscribing_outside_the_documented_filters_closes(s: &TestServer) {
    let key = s.create_device("dev1").await;
    for filter in [
        "#",
        "+/#",
        "devices/+/messages/devicebound/#",
        "$iothub/#",
        "devices/dev2/messages/devicebound/#",
    ] {
        let mut raw = s.raw().await;
        raw.connect_as("dev1", &key).await;
        raw.send(&Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: vec![(filter.into(), QoS::AtLeastOnce)],
        }))
        .await;
        assert_eq!(
            raw.next_within(Duration::from_secs(1)).await,
            Next::Closed,
            "{filter}"
        );
    }
}

pub async fn documented_subscriptions_are_granted_at_most_qos1_and_kept_across_reconnects(
    s: &TestServer,
) {
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    raw.send(&Packet::Subscribe(Subscribe {
        packet_id: 3,
        filters: vec![
            (
                "devices/dev1/messages/devicebound/#".into(),
                QoS::ExactlyOnce,
            ),
            ("$iothub/methods/POST/#".into(), QoS::AtMostOnce),
        ],
    }))
    .await;
    match raw.next().await {
        Next::Packet(Packet::SubAck(a)) => assert_eq!(
            a.codes,
            vec![
                ferrohub_mqtt::SubAckCode::Granted(QoS::AtLeastOnce),
                ferrohub_mqtt::SubAckCode::Granted(QoS::AtMostOnce)
            ]
        ),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    raw.send(&Packet::Disconnect).await;
    assert_eq!(raw.next().await, Next::Closed);
    let mut again = s.raw().await;
    again.connect_expecting_session("dev1", &key, true).await;
}

pub async fn keep_alive_silence_closes_after_one_and_a_half_intervals(s: &TestServer) {
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    raw.send(&connect_adjusted("dev1", &key, |c| {
        c.keep_alive = 1;
    }))
    .await;
    assert!(matches!(raw.next().await, Next::Packet(Packet::ConnAck(_))));
    let started = std::time::Instant::now();
    assert_eq!(connection_state(s, "dev1").await, "Connected");
    assert_eq!(raw.next_within(Duration::from_secs(3)).await, Next::Closed);
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "not before 1.5 x keep-alive"
    );
    // Hostile G1: the device is marked offline once the keep-alive drop happened.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while connection_state(s, "dev1").await != "Disconnected" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still Connected 2 s after the keep-alive drop"
        );
    }
}

/// The registry's `connectionState` of `device`.
async fn connection_state(s: &TestServer, device: &str) -> String {
    let d = get_json(&s.api(), &format!("/devices/{device}")).await;
    d["connectionState"].as_str().unwrap().to_owned()
}

pub async fn a_module_cannot_publish_into_another_modules_topics(s: &TestServer) {
    let stored = s.telemetry_count("dev1").await;
    s.create_device("dev1").await;
    let key = s.create_module("dev1", "m1").await;
    s.create_module("dev1", "m2").await;
    let token = ferrohub_protocol::sas::sign(
        "localhost/devices/dev1/modules/m1",
        &key,
        crate::support::unix_now() + 60,
        None,
    )
    .unwrap();
    for topic in [
        "devices/dev1/modules/m2/messages/events/",
        "devices/dev1/messages/events/",
    ] {
        let mut raw = s.raw().await;
        raw.send(&connect_packet("dev1/m1", Some(token.clone())))
            .await;
        assert!(
            matches!(raw.next().await, Next::Packet(Packet::ConnAck(a)) if a.code == ConnectReturnCode::Accepted)
        );
        raw.publish(topic, QoS::AtLeastOnce, Some(1), Bytes::from_static(b"x"))
            .await;
        assert_eq!(
            raw.next_within(Duration::from_secs(1)).await,
            Next::Closed,
            "{topic}"
        );
    }
    assert_eq!(s.telemetry_count("dev1").await, stored, "nothing is stored");
}

/// E10's cycles per run (the spec's 100 k would take minutes); each test binary sets its own.
use crate::E10_CYCLES as CYCLES;

pub async fn connect_subscribe_unsubscribe_disconnect_cycles_leave_no_descriptors_behind(
    s: &TestServer,
) {
    let key = s.create_device("cycler").await;
    // Warm up once so lazily opened files (log segments, database readers) are counted.
    let mut raw = s.raw().await;
    raw.connect_as("cycler", &key).await;
    raw.send(&Packet::Disconnect).await;
    assert_eq!(raw.next().await, Next::Closed);
    let before = s.open_fds();
    let rss_before = s.rss_kib();
    for _ in 0..CYCLES {
        let mut raw = s.raw().await;
        raw.connect_as("cycler", &key).await;
        raw.send(&Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: vec![("$iothub/methods/POST/#".into(), QoS::AtMostOnce)],
        }))
        .await;
        assert!(matches!(raw.next().await, Next::Packet(Packet::SubAck(_))));
        raw.send(&Packet::Unsubscribe(ferrohub_mqtt::Unsubscribe {
            packet_id: 2,
            filters: vec!["$iothub/methods/POST/#".into()],
        }))
        .await;
        assert_eq!(raw.next().await, Next::Packet(Packet::UnsubAck(2)));
        raw.send(&Packet::Disconnect).await;
        assert_eq!(raw.next().await, Next::Closed);
    }
    let after = s.open_fds();
    let rss_after = s.rss_kib();
    // Memory is flat too: within I4's 10 % (about 280 KiB of growth over 500 cycles is the
    // allocator settling, measured against a 24 MB server).
    assert!(
        rss_after <= rss_before + rss_before / 10,
        "RSS grew from {rss_before} to {rss_after} KiB over {CYCLES} cycles"
    );
    // The server's side of each socket is closed by the time the client sees the close;
    // allow a few descriptors of slack for the runtime's own bookkeeping.
    assert!(
        after <= before + 4,
        "descriptors grew from {before} to {after} over {CYCLES} cycles"
    );
}

standalone!(
    protocol_level_5_gets_connack_1_then_close,
    a_protocol_name_other_than_mqtt_closes_without_connack,
    a_reserved_connect_flag_closes,
    empty_client_id_gets_connack_2,
    a_username_naming_another_device_or_hub_is_refused,
    a_second_connect_closes_the_connection_and_leaves_the_session_untouched,
    any_packet_before_connect_closes,
    a_large_publish_before_connect_closes_from_its_header,
    qos2_publish_closes_and_stores_nothing,
    a_will_for_another_device_or_an_iothub_topic_gets_connack_5,
    publishing_as_another_device_closes_and_stores_nothing,
    subscribing_outside_the_documented_filters_closes,
    documented_subscriptions_are_granted_at_most_qos1_and_kept_across_reconnects,
    keep_alive_silence_closes_after_one_and_a_half_intervals,
    a_module_cannot_publish_into_another_modules_topics,
);

standalone_in_own_process!(
    connect_subscribe_unsubscribe_disconnect_cycles_leave_no_descriptors_behind
);
