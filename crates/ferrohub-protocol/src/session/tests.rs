//! Session rules driven with explicit time and no sockets.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrohub_mqtt::{
    ConnAck, Connect, ConnectReturnCode, DecodeError, Packet, Publish, QoS, SubAckCode, Subscribe,
    Will,
};

use super::*;

fn connect(client_id: &str, keep_alive: u16, clean: bool) -> Connect {
    Connect {
        protocol_level: 4,
        clean_session: clean,
        keep_alive,
        client_id: client_id.into(),
        will: None,
        username: Some(format!("hub.local/{client_id}/?api-version=2021-04-12")),
        password: Some(Bytes::from_static(
            b"SharedAccessSignature sr=x&sig=YQ==&se=1",
        )),
    }
}

fn publish(topic: &str, qos: QoS, pid: Option<u16>) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: topic.into(),
        packet_id: pid,
        payload: Bytes::from_static(b"hello"),
    }
}

fn accepted(valid_for: Duration) -> AuthAccepted {
    AuthAccepted {
        valid_for: Some(valid_for),
        session_present: false,
        subscriptions: vec![],
    }
}

/// A session that has completed CONNECT as `client_id`.
fn connected(now: Instant, client_id: &str, keep_alive: u16) -> DeviceSession {
    let mut s = DeviceSession::new(now, SessionConfig::default());
    s.handle_packet(now, Packet::Connect(connect(client_id, keep_alive, false)));
    assert!(matches!(
        s.poll_request(),
        Some(HubRequest::Authenticate(_))
    ));
    s.handle_auth_result(now, Ok(accepted(Duration::from_secs(3600))));
    assert_eq!(
        s.poll_transmit(),
        Some(Packet::ConnAck(ConnAck {
            session_present: false,
            code: ConnectReturnCode::Accepted
        }))
    );
    s
}

fn telemetry_tickets(s: &mut DeviceSession) -> Vec<Ticket> {
    std::iter::from_fn(|| s.poll_request())
        .filter_map(|r| match r {
            HubRequest::Telemetry { ticket, .. } => Some(ticket),
            _ => None,
        })
        .collect()
}

#[test]
fn a_packet_before_connect_closes_without_answer() {
    let now = Instant::now();
    let mut s = DeviceSession::new(now, SessionConfig::default());
    s.handle_packet(now, Packet::PingReq);
    assert!(matches!(
        s.poll_close(),
        Some(CloseReason::ProtocolViolation(_))
    ));
    assert_eq!(s.poll_transmit(), None);
}

#[test]
fn a_packet_header_other_than_connect_closes_before_its_body_arrives() {
    let now = Instant::now();
    let mut s = DeviceSession::new(now, SessionConfig::default());
    s.handle_packet_start(0x10);
    assert_eq!(s.poll_close(), None, "a CONNECT header is awaited normally");
    s.handle_packet_start(0x30);
    assert!(matches!(
        s.poll_close(),
        Some(CloseReason::ProtocolViolation(_))
    ));
    let mut connected = connected(now, "dev1", 60);
    connected.handle_packet_start(0x30);
    assert_eq!(
        connected.poll_close(),
        None,
        "after CONNECT any type may follow"
    );
}

#[test]
fn an_unsupported_protocol_level_gets_connack_1() {
    let now = Instant::now();
    let mut s = DeviceSession::new(now, SessionConfig::default());
    s.handle_decode_error(now, &DecodeError::UnsupportedProtocolLevel(5));
    assert_eq!(
        s.poll_transmit(),
        Some(Packet::ConnAck(ConnAck {
            session_present: false,
            code: ConnectReturnCode::UnacceptableProtocolVersion
        }))
    );
    assert!(s.poll_close().is_some());
}

#[test]
fn empty_client_id_gets_connack_2() {
    let now = Instant::now();
    let mut s = DeviceSession::new(now, SessionConfig::default());
    s.handle_packet(now, Packet::Connect(connect("", 60, false)));
    assert_eq!(
        s.poll_transmit(),
        Some(Packet::ConnAck(ConnAck {
            session_present: false,
            code: ConnectReturnCode::IdentifierRejected
        }))
    );
}

#[test]
fn username_for_another_device_gets_connack_2() {
    let now = Instant::now();
    let mut s = DeviceSession::new(now, SessionConfig::default());
    let mut c = connect("dev1", 60, false);
    c.username = Some("hub.local/dev2/?api-version=1".into());
    s.handle_packet(now, Packet::Connect(c));
    assert_eq!(
        s.poll_transmit(),
        Some(Packet::ConnAck(ConnAck {
            session_present: false,
            code: ConnectReturnCode::IdentifierRejected
        }))
    );
}

#[test]
fn refused_credentials_get_the_hubs_code_then_close() {
    let now = Instant::now();
    let mut s = DeviceSession::new(now, SessionConfig::default());
    s.handle_packet(now, Packet::Connect(connect("dev1", 60, false)));
    let _ = s.poll_request();
    s.handle_auth_result(now, Err(ConnectReturnCode::ServerUnavailable));
    assert_eq!(
        s.poll_transmit(),
        Some(Packet::ConnAck(ConnAck {
            session_present: false,
            code: ConnectReturnCode::ServerUnavailable
        }))
    );
    assert_eq!(
        s.poll_close(),
        Some(CloseReason::ConnectRefused(
            ConnectReturnCode::ServerUnavailable
        ))
    );
}

#[test]
fn a_will_naming_another_device_gets_connack_5() {
    let now = Instant::now();
    let mut s = DeviceSession::new(now, SessionConfig::default());
    let mut c = connect("dev1", 60, false);
    c.will = Some(Will {
        topic: "devices/dev2/messages/events/".into(),
        payload: Bytes::new(),
        qos: QoS::AtLeastOnce,
        retain: false,
    });
    s.handle_packet(now, Packet::Connect(c));
    assert_eq!(
        s.poll_transmit(),
        Some(Packet::ConnAck(ConnAck {
            session_present: false,
            code: ConnectReturnCode::NotAuthorized
        }))
    );
}

#[test]
fn a_second_connect_closes() {
    let now = Instant::now();
    let mut s = connected(now, "dev1", 60);
    s.handle_packet(now, Packet::Connect(connect("dev1", 60, false)));
    assert!(matches!(
        s.poll_close(),
        Some(CloseReason::ProtocolViolation(_))
    ));
}

#[test]
fn pubacks_follow_arrival_order_even_when_durability_completes_out_of_order() {
    let now = Instant::now();
    let mut s = connected(now, "dev1", 60);
    for pid in 1..=3 {
        s.handle_packet(
            now,
            Packet::Publish(publish(
                "devices/dev1/messages/events/",
                QoS::AtLeastOnce,
                Some(pid),
            )),
        );
    }
    let tickets = telemetry_tickets(&mut s);
    assert_eq!(tickets.len(), 3);
    s.handle_telemetry_result(now, tickets[2], TelemetryOutcome::Stored);
    s.handle_telemetry_result(now, tickets[1], TelemetryOutcome::Stored);
    assert_eq!(
        s.poll_transmit(),
        None,
        "no PUBACK before the first message is durable"
    );
    s.handle_telemetry_result(now, tickets[0], TelemetryOutcome::Stored);
    let acks: Vec<Packet> = std::iter::from_fn(|| s.poll_transmit()).collect();
    assert_eq!(
        acks,
        vec![Packet::PubAck(1), Packet::PubAck(2), Packet::PubAck(3)]
    );
}

#[test]
fn a_failed_append_closes_without_puback() {
    let now = Instant::now();
    let mut s = connected(now, "dev1", 60);
    s.handle_packet(
        now,
        Packet::Publish(publish(
            "devices/dev1/messages/events/",
            QoS::AtLeastOnce,
            Some(9),
        )),
    );
    let t = telemetry_tickets(&mut s);
    s.handle_telemetry_result(now, t[0], TelemetryOutcome::Failed);
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(s.poll_close(), Some(CloseReason::StorageFailed));
}

#[test]
fn qos2_publish_closes_the_connection() {
    let now = Instant::now();
    let mut s = connected(now, "dev1", 60);
    s.handle_packet(
        now,
        Packet::Publish(publish(
            "devices/dev1/messages/events/",
            QoS::ExactlyOnce,
            Some(1),
        )),
    );
    assert!(matches!(
        s.poll_close(),
        Some(CloseReason::ProtocolViolation(_))
    ));
    assert!(telemetry_tickets(&mut s).is_empty());
}

#[test]
fn publishing_to_another_devices_topic_closes_and_stores_nothing() {
    let now = Instant::now();
    let mut s = connected(now, "dev1", 60);
    s.handle_packet(
        now,
        Packet::Publish(publish(
            "devices/dev2/messages/events/",
            QoS::AtLeastOnce,
            Some(1),
        )),
    );
    assert!(matches!(
        s.poll_close(),
        Some(CloseReason::ProtocolViolation(_))
    ));
    assert!(telemetry_tickets(&mut s).is_empty());
}

#[test]
fn retained_publish_is_forwarded_with_x_opt_retain() {
    let now = Instant::now();
    let mut s = connected(now, "dev1", 60);
    let mut p = publish("devices/dev1/messages/events/a=1", QoS::AtMostOnce, None);
    p.retain = true;
    s.handle_packet(now, Packet::Publish(p));
    match s.poll_request() {
        Some(HubRequest::Telemetry { message, .. }) => {
            assert!(
                message
                    .properties
                    .contains(&("x-opt-retain".into(), "true".into()))
            );
        }
        other => panic!("expected telemetry, got {other:?}"),
    }
}

#[test]
fn qos2_subscription_is_granted_qos1_and_saved_for_persistent_sessions() {
    let now = Instant::now();
    let mut s = connected(now, "dev1", 60);
    s.handle_packet(
        now,
        Packet::Subscribe(Subscribe {
            packet_id: 5,
            filters: vec![
                (
                    "devices/dev1/messages/devicebound/#".into(),
                    QoS::ExactlyOnce,
                ),
                ("$iothub/twin/res/#".into(), QoS::AtMostOnce),
            ],
        }),
    );
    match s.poll_transmit() {
        Some(Packet::SubAck(a)) => assert_eq!(
            a.codes,
            vec![
                SubAckCode::Granted(QoS::AtLeastOnce),
                SubAckCode::Granted(QoS::AtMostOnce)
            ]
        ),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    assert_eq!(
        s.poll_request(),
        Some(HubRequest::SubscriptionsChanged {
            persist: true,
            subscriptions: vec![Subscription::CloudToDevice, Subscription::TwinResponses],
        })
    );
}

#[test]
fn subscribing_to_a_wildcard_closes() {
    let now = Instant::now();
    let mut s = connected(now, "dev1", 60);
    s.handle_packet(
        now,
        Packet::Subscribe(Subscribe {
            packet_id: 5,
            filters: vec![("#".into(), QoS::AtLeastOnce)],
        }),
    );
    assert!(matches!(
        s.poll_close(),
        Some(CloseReason::ProtocolViolation(_))
    ));
}

#[test]
fn keep_alive_expires_at_one_and_a_half_times_the_interval() {
    let now = Instant::now();
    let mut s = connected(now, "dev1", 60);
    assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(90)));
    s.handle_timeout(now + Duration::from_secs(89));
    assert!(!s.is_closed());
    s.handle_packet(now + Duration::from_secs(80), Packet::PingReq);
    assert_eq!(s.poll_transmit(), Some(Packet::PingResp));
    s.handle_timeout(now + Duration::from_secs(169));
    assert!(!s.is_closed());
    s.handle_timeout(now + Duration::from_secs(170));
    assert_eq!(s.poll_close(), Some(CloseReason::KeepAliveTimeout));
}

#[test]
fn keep_alive_zero_or_huge_is_capped_at_1767_seconds() {
    for ka in [0u16, 65535] {
        let now = Instant::now();
        let s = connected(now, "dev1", ka);
        assert_eq!(
            s.poll_timeout(),
            Some(now + Duration::from_secs_f64(1767.0 * 1.5)),
            "ka={ka}"
        );
    }
}

#[test]
fn the_connection_closes_when_its_token_expires() {
    let now = Instant::now();
    let mut s = DeviceSession::new(now, SessionConfig::default());
    s.handle_packet(now, Packet::Connect(connect("dev1", 60, false)));
    let _ = s.poll_request();
    s.handle_auth_result(now, Ok(accepted(Duration::from_secs(30))));
    assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(30)));
    s.handle_timeout(now + Duration::from_secs(30));
    assert_eq!(s.poll_close(), Some(CloseReason::TokenExpired));
}

#[test]
fn connect_must_arrive_before_the_deadline() {
    let now = Instant::now();
    let mut s = DeviceSession::new(now, SessionConfig::default());
    s.handle_timeout(now + Duration::from_secs(10));
    assert_eq!(s.poll_close(), Some(CloseReason::ConnectTimeout));
}

fn with_will(now: Instant) -> DeviceSession {
    let mut s = DeviceSession::new(now, SessionConfig::default());
    let mut c = connect("dev1", 60, false);
    c.will = Some(Will {
        topic: "devices/dev1/messages/events/reason=gone".into(),
        payload: Bytes::from_static(b"bye"),
        qos: QoS::AtLeastOnce,
        retain: false,
    });
    s.handle_packet(now, Packet::Connect(c));
    let _ = s.poll_request();
    s.handle_auth_result(now, Ok(accepted(Duration::from_secs(3600))));
    let _ = s.poll_transmit();
    s
}

#[test]
fn will_is_sent_as_telemetry_when_the_connection_drops() {
    let now = Instant::now();
    let mut s = with_will(now);
    s.handle_transport_closed(now);
    match s.poll_request() {
        Some(HubRequest::Telemetry { message, .. }) => {
            assert_eq!(message.kind, crate::telemetry::MessageKind::Will);
            assert_eq!(message.body, Bytes::from_static(b"bye"));
            assert_eq!(message.properties, vec![("reason".into(), "gone".into())]);
        }
        other => panic!("expected the Will, got {other:?}"),
    }
}

#[test]
fn will_is_not_sent_after_disconnect() {
    let now = Instant::now();
    let mut s = with_will(now);
    s.handle_packet(now, Packet::Disconnect);
    assert_eq!(s.poll_request(), None);
    assert_eq!(s.poll_close(), Some(CloseReason::ClientDisconnected));
}

#[test]
fn takeover_closes_the_older_connection() {
    let now = Instant::now();
    let mut s = connected(now, "dev1", 60);
    s.handle_hub_event(now, HubEvent::TakenOver);
    assert_eq!(s.poll_close(), Some(CloseReason::TakenOver));
}

#[test]
fn clean_session_drops_the_stored_session_and_reports_none_present() {
    let now = Instant::now();
    let mut s = DeviceSession::new(now, SessionConfig::default());
    s.handle_packet(now, Packet::Connect(connect("dev1", 60, true)));
    let _ = s.poll_request();
    s.handle_auth_result(
        now,
        Ok(AuthAccepted {
            valid_for: None,
            session_present: true,
            subscriptions: vec![Subscription::CloudToDevice],
        }),
    );
    assert_eq!(
        s.poll_transmit(),
        Some(Packet::ConnAck(ConnAck {
            session_present: false,
            code: ConnectReturnCode::Accepted
        }))
    );
    assert_eq!(s.poll_request(), Some(HubRequest::DropStoredSession));
    assert!(s.subscriptions().is_empty());
}

#[test]
fn persistent_session_restores_subscriptions_and_reports_present() {
    let now = Instant::now();
    let mut s = DeviceSession::new(now, SessionConfig::default());
    s.handle_packet(now, Packet::Connect(connect("dev1", 60, false)));
    let _ = s.poll_request();
    s.handle_auth_result(
        now,
        Ok(AuthAccepted {
            valid_for: None,
            session_present: true,
            subscriptions: vec![Subscription::MethodRequests],
        }),
    );
    assert_eq!(
        s.poll_transmit(),
        Some(Packet::ConnAck(ConnAck {
            session_present: true,
            code: ConnectReturnCode::Accepted
        }))
    );
    assert_eq!(s.subscriptions(), vec![Subscription::MethodRequests]);
    assert_eq!(
        s.poll_request(),
        Some(HubRequest::SubscriptionsChanged {
            subscriptions: vec![Subscription::MethodRequests],
            persist: false
        }),
        "the hub learns the restored subscriptions"
    );
}

#[test]
fn too_much_unacknowledged_telemetry_pauses_reading() {
    let now = Instant::now();
    let mut s = connected(now, "dev1", 60);
    for pid in 1..=256u16 {
        s.handle_packet(
            now,
            Packet::Publish(publish(
                "devices/dev1/messages/events/",
                QoS::AtLeastOnce,
                Some(pid),
            )),
        );
    }
    assert!(!s.accepts_input());
    let tickets = telemetry_tickets(&mut s);
    s.handle_telemetry_result(now, tickets[0], TelemetryOutcome::Stored);
    assert!(s.accepts_input());
}

#[test]
fn twin_responses_go_only_to_subscribed_devices() {
    let now = Instant::now();
    let mut s = connected(now, "dev1", 60);
    let rid = RequestId::new("r1").unwrap();
    s.send_twin_response(&rid, 200, None, Bytes::from_static(b"{}"));
    assert_eq!(s.poll_transmit(), None);
    s.handle_packet(
        now,
        Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: vec![("$iothub/twin/res/#".into(), QoS::AtMostOnce)],
        }),
    );
    let _ = s.poll_transmit();
    s.send_twin_response(&rid, 204, Some(7), Bytes::new());
    match s.poll_transmit() {
        Some(Packet::Publish(p)) => assert_eq!(p.topic, "$iothub/twin/res/204/?$rid=r1&$version=7"),
        other => panic!("expected a twin response, got {other:?}"),
    }
}

#[test]
fn method_requests_reach_only_subscribed_devices_with_a_json_body() {
    let now = Instant::now();
    let mut s = connected(now, "dev1", 60);
    let call = HubEvent::MethodRequest(Box::new(MethodCall {
        request_id: RequestId::new("7").unwrap(),
        name: "reboot".into(),
        payload: Bytes::from_static(b"null"),
    }));
    s.handle_hub_event(now, call.clone());
    assert_eq!(s.poll_transmit(), None);
    s.handle_packet(
        now,
        Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: vec![("$iothub/methods/POST/#".into(), QoS::AtMostOnce)],
        }),
    );
    let _ = s.poll_transmit();
    s.handle_hub_event(now, call);
    match s.poll_transmit() {
        Some(Packet::Publish(p)) => {
            assert_eq!(p.topic, "$iothub/methods/POST/reboot/?$rid=7");
            assert_eq!(p.qos, QoS::AtMostOnce);
            assert_eq!(p.payload, Bytes::from_static(b"null"));
        }
        other => panic!("expected the method request, got {other:?}"),
    }
    assert!(!s.is_closed());
}

#[test]
fn desired_patches_are_published_with_their_version() {
    let now = Instant::now();
    let mut s = connected(now, "dev1", 60);
    s.handle_packet(
        now,
        Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: vec![(
                "$iothub/twin/PATCH/properties/desired/#".into(),
                QoS::AtLeastOnce,
            )],
        }),
    );
    let _ = s.poll_transmit();
    s.handle_hub_event(
        now,
        HubEvent::DesiredPatch(Box::new(DesiredUpdate {
            version: 4,
            body: Bytes::from_static(br#"{"a":1,"$version":4}"#),
        })),
    );
    match s.poll_transmit() {
        Some(Packet::Publish(p)) => {
            assert_eq!(p.topic, "$iothub/twin/PATCH/properties/desired/?$version=4")
        }
        other => panic!("expected the desired patch, got {other:?}"),
    }
}

fn subscribe_c2d(s: &mut DeviceSession, now: Instant) {
    s.handle_packet(
        now,
        Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: vec![(
                "devices/dev1/messages/devicebound/#".into(),
                QoS::AtLeastOnce,
            )],
        }),
    );
    let _ = s.poll_transmit();
}

#[test]
fn subscribing_to_c2d_asks_the_hub_for_queued_messages() {
    let now = Instant::now();
    let mut s = connected(now, "dev1", 60);
    assert_eq!(s.c2d_capacity(), 0, "no deliveries before the subscription");
    subscribe_c2d(&mut s, now);
    let requests: Vec<HubRequest> = std::iter::from_fn(|| s.poll_request()).collect();
    assert!(requests.contains(&HubRequest::PullCloudToDevice));
    assert_eq!(s.c2d_capacity(), 16);
}

#[test]
fn a_c2d_delivery_is_qos1_and_its_puback_completes_it() {
    let now = Instant::now();
    let mut s = connected(now, "dev1", 60);
    subscribe_c2d(&mut s, now);
    while s.poll_request().is_some() {}
    s.deliver_c2d(
        "lock-1".into(),
        "devices/dev1/messages/devicebound/a=1".into(),
        Bytes::from_static(b"hi"),
        true,
    );
    let pid = match s.poll_transmit() {
        Some(Packet::Publish(p)) => {
            assert_eq!(p.qos, QoS::AtLeastOnce);
            assert!(p.dup, "a redelivery carries DUP");
            p.packet_id.unwrap()
        }
        other => panic!("expected the delivery, got {other:?}"),
    };
    assert_eq!(
        s.c2d_in_flight(),
        std::collections::HashSet::from(["lock-1".to_owned()])
    );
    s.handle_packet(now, Packet::PubAck(pid));
    assert_eq!(
        s.poll_request(),
        Some(HubRequest::CloudToDeviceCompleted {
            lock_token: "lock-1".into()
        })
    );
    assert!(s.c2d_in_flight().is_empty());
    s.handle_packet(now, Packet::PubAck(pid));
    assert_eq!(
        s.poll_request(),
        None,
        "a repeated PUBACK completes nothing"
    );
}

#[test]
fn c2d_deliveries_stop_at_the_in_flight_limit() {
    let now = Instant::now();
    let mut s = connected(now, "dev1", 60);
    subscribe_c2d(&mut s, now);
    for i in 0..20 {
        s.deliver_c2d(
            format!("l{i}"),
            "devices/dev1/messages/devicebound/".into(),
            Bytes::new(),
            false,
        );
    }
    assert_eq!(s.c2d_in_flight().len(), 16);
    assert_eq!(s.c2d_capacity(), 0);
}

#[test]
fn a_resumed_session_with_a_c2d_subscription_pulls_without_resubscribing() {
    let now = Instant::now();
    let mut s = DeviceSession::new(now, SessionConfig::default());
    s.handle_packet(now, Packet::Connect(connect("dev1", 60, false)));
    let _ = s.poll_request();
    s.handle_auth_result(
        now,
        Ok(AuthAccepted {
            valid_for: None,
            session_present: true,
            subscriptions: vec![Subscription::CloudToDevice],
        }),
    );
    let requests: Vec<HubRequest> = std::iter::from_fn(|| s.poll_request()).collect();
    assert!(requests.contains(&HubRequest::PullCloudToDevice));
}

#[test]
fn hub_events_stay_small_because_every_connection_preallocates_them() {
    assert!(
        std::mem::size_of::<HubEvent>() <= 16,
        "{}",
        std::mem::size_of::<HubEvent>()
    );
}
