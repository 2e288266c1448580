//! Hostile group A: framing, before and after authentication.

use std::time::Duration;

use bytes::BytesMut;
use ferrohub_mqtt::Packet;

use crate::support::{Next, TestServer, connect_adjusted, connect_packet, device_token};

/// Bytes that must make the server close without answering, sent after a good CONNECT.
const CLOSERS: &[(&str, &[u8])] = &[
    (
        "fifth remaining-length byte",
        &[0x30, 0xff, 0xff, 0xff, 0xff, 0x01],
    ),
    ("packet type 0", &[0x00, 0x00]),
    ("packet type 15", &[0xf0, 0x00]),
    ("client sends CONNACK", &[0x20, 0x02, 0x00, 0x00]),
    ("client sends SUBACK", &[0x90, 0x03, 0x00, 0x01, 0x00]),
    ("client sends UNSUBACK", &[0xb0, 0x02, 0x00, 0x01]),
    ("client sends PINGRESP", &[0xd0, 0x00]),
    (
        "SUBSCRIBE with flags 0000",
        &[0x80, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x01],
    ),
    ("PUBLISH QoS 3", &[0x36, 0x05, 0x00, 0x01, b'a', 0x00, 0x01]),
    (
        "inner length past the packet",
        &[0x30, 0x03, 0x00, 0x09, b'a'],
    ),
    ("packet id 0", &[0x32, 0x05, 0x00, 0x01, b'a', 0x00, 0x00]),
    ("SUBSCRIBE without filters", &[0x82, 0x02, 0x00, 0x01]),
    ("empty topic", &[0x30, 0x02, 0x00, 0x00]),
    ("wildcard in topic", &[0x30, 0x03, 0x00, 0x01, b'#']),
    (
        "single-level wildcard in topic",
        &[0x30, 0x03, 0x00, 0x01, b'+'],
    ),
    ("invalid UTF-8 topic", &[0x30, 0x03, 0x00, 0x01, 0xff]),
    ("NUL in topic", &[0x30, 0x03, 0x00, 0x01, 0x00]),
    (
        "declared length above the maximum",
        &[0x30, 0xff, 0xff, 0xff, 0x7f],
    ),
];

pub async fn malformed_frames_after_connect_close_the_connection(s: &TestServer) {
    let key = s.create_device("dev1").await;
    for (name, bytes) in CLOSERS {
        let mut raw = s.raw().await;
        raw.connect_as("dev1", &key).await;
        raw.send_bytes(bytes).await;
        assert_eq!(
            raw.next_within(Duration::from_secs(1)).await,
            Next::Closed,
            "{name}"
        );
    }
}

pub async fn malformed_frames_before_connect_close_without_connack(s: &TestServer) {
    for (name, bytes) in CLOSERS {
        let mut raw = s.raw().await;
        raw.send_bytes(bytes).await;
        assert_eq!(
            raw.next_within(Duration::from_secs(1)).await,
            Next::Closed,
            "{name}"
        );
    }
}

pub async fn a_connect_split_at_every_byte_is_processed(s: &TestServer) {
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    let mut bytes = BytesMut::new();
    ferrohub_mqtt::encode(
        &connect_packet("dev1", Some(device_token("dev1", &key, 60))),
        &mut bytes,
    )
    .unwrap();
    ferrohub_mqtt::encode(&Packet::PingReq, &mut bytes).unwrap();
    for b in bytes.iter() {
        raw.send_bytes(&[*b]).await;
    }
    assert!(matches!(raw.next().await, Next::Packet(Packet::ConnAck(_))));
    assert_eq!(raw.next().await, Next::Packet(Packet::PingResp));
}

pub async fn packets_sent_right_behind_connect_are_processed_in_order(s: &TestServer) {
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    let mut bytes = BytesMut::new();
    ferrohub_mqtt::encode(
        &connect_packet("dev1", Some(device_token("dev1", &key, 60))),
        &mut bytes,
    )
    .unwrap();
    for _ in 0..3 {
        ferrohub_mqtt::encode(&Packet::PingReq, &mut bytes).unwrap();
    }
    raw.send_bytes(&bytes).await;
    assert!(matches!(raw.next().await, Next::Packet(Packet::ConnAck(_))));
    for _ in 0..3 {
        assert_eq!(raw.next().await, Next::Packet(Packet::PingResp));
    }
}

pub async fn a_truncated_frame_then_silence_is_closed_at_the_connect_deadline(s: &TestServer) {
    let mut raw = s.raw().await;
    let sent = tokio::time::Instant::now();
    raw.send_bytes(&[0x10, 0x20, 0x00]).await;
    // The session's CONNECT deadline is 10 s from the TCP accept (the TLS handshake came
    // before `sent`, hence the 1 s of slack below).
    assert_eq!(raw.next_within(Duration::from_secs(12)).await, Next::Closed);
    assert!(
        sent.elapsed() >= Duration::from_secs(9),
        "closed at the deadline, not before: {:?}",
        sent.elapsed()
    );
}

pub async fn plaintext_on_the_tls_port_fails_the_handshake_cleanly(s: &TestServer) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(s.mqtt_addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(2), tcp.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server closes the socket");
    assert!(!buf.windows(4).any(|w| w == b"HTTP"), "no plaintext answer");
    // The server is still serving.
    let key = s.create_device("dev1").await;
    s.raw().await.connect_as("dev1", &key).await;
}

/// A CONNECT with the given client id, user name and Will topic bytes, which may be invalid
/// UTF-8 (our encoder only takes valid strings).
fn raw_connect(client_id: &[u8], username: &[u8], will_topic: Option<&[u8]>) -> Vec<u8> {
    let string = |out: &mut Vec<u8>, bytes: &[u8]| {
        out.extend_from_slice(&u16::try_from(bytes.len()).unwrap().to_be_bytes());
        out.extend_from_slice(bytes);
    };
    // User name flag, plus Will flag with QoS 1 when there is a Will.
    let flags = 0x80 | if will_topic.is_some() { 0x0c } else { 0 };
    let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, flags, 0x00, 0x3c];
    string(&mut body, client_id);
    if let Some(topic) = will_topic {
        string(&mut body, topic);
        string(&mut body, b"gone");
    }
    string(&mut body, username);
    let mut packet = vec![0x10];
    let mut len = body.len();
    loop {
        let byte = u8::try_from(len % 128).unwrap();
        len /= 128;
        packet.push(if len > 0 { byte | 0x80 } else { byte });
        if len == 0 {
            break;
        }
    }
    packet.extend_from_slice(&body);
    packet
}

/// A11: bad UTF-8, U+0000 or an encoded surrogate in the client id, user name or Will topic.
pub async fn invalid_strings_in_connect_close_without_connack(s: &TestServer) {
    s.create_device("dev1").await;
    let user = b"localhost/dev1/?api-version=2021-04-12";
    let cases: &[(&str, Vec<u8>)] = &[
        ("bad UTF-8 client id", raw_connect(b"dev\xff", user, None)),
        (
            "surrogate in client id",
            raw_connect(b"dev\xed\xa0\x80", user, None),
        ),
        ("NUL in client id", raw_connect(b"dev\x001", user, None)),
        (
            "bad UTF-8 user name",
            raw_connect(b"dev1", b"localhost/dev1/\xc3", None),
        ),
        (
            "surrogate in user name",
            raw_connect(b"dev1", b"localhost/\xed\xbf\xbf", None),
        ),
        (
            "bad UTF-8 Will topic",
            raw_connect(b"dev1", user, Some(b"devices/dev1/messages/events/\xfe")),
        ),
        (
            "NUL in user name",
            raw_connect(b"dev1", b"localhost/dev1/\x00", None),
        ),
        (
            "surrogate in Will topic",
            raw_connect(
                b"dev1",
                user,
                Some(b"devices/dev1/messages/events/\xed\xa0\x80"),
            ),
        ),
        (
            "NUL in Will topic",
            raw_connect(b"dev1", user, Some(b"devices/dev1/messages/events/\x00")),
        ),
    ];
    for (name, bytes) in cases {
        let mut raw = s.raw().await;
        raw.send_bytes(bytes).await;
        assert_eq!(
            raw.next_within(Duration::from_secs(1)).await,
            Next::Closed,
            "{name}"
        );
    }
    // The builder itself is sound: the same CONNECT with valid strings gets an answer.
    let mut raw = s.raw().await;
    raw.send_bytes(&raw_connect(b"dev1", user, None)).await;
    assert!(
        matches!(raw.next().await, Next::Packet(Packet::ConnAck(_))),
        "a well-formed CONNECT is answered"
    );
}

/// A2: a remaining length in two bytes where one would do (`80 00`) is accepted, and the
/// packets after it are framed correctly (no desync), after authentication.
pub async fn a_non_minimal_remaining_length_is_accepted_without_desync(s: &TestServer) {
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    raw.send_bytes(&[0xc0, 0x80, 0x00, 0xc0, 0x00]).await; // PINGREQ twice
    for _ in 0..2 {
        assert_eq!(raw.next().await, Next::Packet(Packet::PingResp));
    }
}

/// A4 after authentication: a truncated frame followed by silence is closed by the
/// keep-alive deadline (1.5 x keep-alive), not before it.
pub async fn a_truncated_frame_after_connect_then_silence_is_closed_at_the_keep_alive_deadline(
    s: &TestServer,
) {
    use tokio::io::AsyncReadExt;
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    // The keep-alive deadline runs from the server's receipt of CONNECT, so time from before
    // it is sent: the close must not come earlier than 3 s after this.
    let sent = tokio::time::Instant::now();
    raw.send(&connect_adjusted("dev1", &key, |c| {
        c.keep_alive = 2;
    }))
    .await;
    assert!(matches!(raw.next().await, Next::Packet(Packet::ConnAck(_))));
    raw.send_bytes(&[0x30, 0x20, 0x00]).await; // a PUBLISH that never finishes
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(2500), raw.tls.read(&mut byte)).await;
    assert!(
        early.is_err(),
        "closed or answered before the deadline: {early:?}"
    );
    assert_eq!(raw.next_within(Duration::from_secs(3)).await, Next::Closed);
    assert!(
        sent.elapsed() >= Duration::from_secs(3),
        "closed at 1.5 x keep-alive"
    );
}

/// A5, paced: a PUBLISH arriving one byte every 100 ms is still processed.
pub async fn a_publish_sent_one_byte_every_100_ms_is_processed(s: &TestServer) {
    let key = s.create_device("paced").await;
    let mut raw = s.raw().await;
    raw.connect_as("paced", &key).await;
    let mut bytes = BytesMut::new();
    ferrohub_mqtt::encode(
        &Packet::Publish(ferrohub_mqtt::Publish {
            dup: false,
            qos: ferrohub_mqtt::QoS::AtLeastOnce,
            retain: false,
            topic: "devices/paced/messages/events/".into(),
            packet_id: Some(7),
            payload: bytes::Bytes::from_static(b"slow"),
        }),
        &mut bytes,
    )
    .unwrap();
    for byte in bytes.iter() {
        raw.send_bytes(&[*byte]).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(raw.next().await, Next::Packet(Packet::PubAck(7)));
    assert_eq!(s.events("paced", 1).await.len(), 1);
}

/// A2 before authentication: a CONNECT whose remaining length is sent in one byte more than
/// it needs is answered like any other.
pub async fn a_connect_with_a_non_minimal_remaining_length_is_answered(s: &TestServer) {
    let key = s.create_device("dev1").await;
    let mut bytes = BytesMut::new();
    ferrohub_mqtt::encode(
        &connect_packet("dev1", Some(device_token("dev1", &key, 60))),
        &mut bytes,
    )
    .unwrap();
    // Re-frame the body with a three-byte length (the minimal form has two bytes).
    let body_len = bytes.len() - 3;
    assert!(
        (128..16_384).contains(&body_len),
        "two-byte length expected"
    );
    let body = bytes.split_off(3);
    let mut framed = vec![
        0x10,
        u8::try_from(body_len % 128).unwrap() | 0x80,
        u8::try_from(body_len / 128).unwrap() | 0x80,
        0x00,
    ];
    framed.extend_from_slice(&body);
    let mut raw = s.raw().await;
    raw.send_bytes(&framed).await;
    match raw.next().await {
        Next::Packet(Packet::ConnAck(a)) => {
            assert_eq!(a.code, ferrohub_mqtt::ConnectReturnCode::Accepted)
        }
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

/// A14: a 64 KB topic closes the connection, also when it starts with the device's own
/// telemetry topic (the rest would be a 64 KB property bag).
pub async fn a_64_kb_topic_closes_the_connection(s: &TestServer) {
    let stored = s.telemetry_count("dev1").await;
    let key = s.create_device("dev1").await;
    let prefix = "devices/dev1/messages/events/";
    for topic in [
        format!("{prefix}k={}", "v".repeat(65_000)),
        "a".repeat(65_535),
    ] {
        let mut raw = s.raw().await;
        raw.connect_as("dev1", &key).await;
        raw.publish(
            topic,
            ferrohub_mqtt::QoS::AtLeastOnce,
            Some(1),
            bytes::Bytes::from_static(b"x"),
        )
        .await;
        assert_eq!(raw.next_within(Duration::from_secs(1)).await, Next::Closed);
    }
    assert_eq!(s.telemetry_count("dev1").await, stored, "nothing is stored");
}

/// A3: 50 connections that declare a packet above the maximum and keep streaming its body
/// are closed from the header; together they add far less than 50 MB (nothing is buffered).
pub async fn fifty_oversized_packets_streaming_their_bodies_add_little_memory(s: &TestServer) {
    let before = s.rss_kib();
    let chunk = vec![0u8; 64 * 1024];
    let mut conns = Vec::new();
    for _ in 0..50 {
        let mut raw = s.raw().await;
        // CONNECT declaring 256 MiB - 1, far above the 257 KiB maximum.
        raw.send_bytes(&[0x10, 0xff, 0xff, 0xff, 0x7f]).await;
        // 2 MiB of body each (100 MiB in all if it were buffered); the writes fail quietly
        // once the server has closed.
        for _ in 0..32 {
            raw.send_bytes(&chunk).await;
        }
        conns.push(raw);
    }
    for raw in &mut conns {
        assert_eq!(raw.next_within(Duration::from_secs(2)).await, Next::Closed);
    }
    let grown_kib = s.rss_kib().saturating_sub(before);
    assert!(
        grown_kib < 50 * 1024,
        "50 oversized packets grew the process by {grown_kib} KiB"
    );
}

standalone!(
    malformed_frames_after_connect_close_the_connection,
    malformed_frames_before_connect_close_without_connack,
    a_connect_split_at_every_byte_is_processed,
    packets_sent_right_behind_connect_are_processed_in_order,
    a_truncated_frame_then_silence_is_closed_at_the_connect_deadline,
    plaintext_on_the_tls_port_fails_the_handshake_cleanly,
    invalid_strings_in_connect_close_without_connack,
    a_non_minimal_remaining_length_is_accepted_without_desync,
    a_truncated_frame_after_connect_then_silence_is_closed_at_the_keep_alive_deadline,
    a_publish_sent_one_byte_every_100_ms_is_processed,
    a_connect_with_a_non_minimal_remaining_length_is_answered,
    a_64_kb_topic_closes_the_connection,
);

standalone_in_own_process!(fifty_oversized_packets_streaming_their_bodies_add_little_memory);
