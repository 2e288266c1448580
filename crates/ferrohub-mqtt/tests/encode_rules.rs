//! Exact wire bytes for known packets, and the values the encoder refuses.

use bytes::{Bytes, BytesMut};
use ferrohub_mqtt::{
    ConnAck, Connect, ConnectReturnCode, EncodeError, MAX_REMAINING_LENGTH, Packet, Publish, QoS,
    SubAck, SubAckCode, Subscribe, Unsubscribe, Will, encode,
};

fn encoded(packet: &Packet) -> Result<Vec<u8>, EncodeError> {
    let mut buf = BytesMut::new();
    encode(packet, &mut buf)?;
    Ok(buf.to_vec())
}

fn publish(qos: QoS, packet_id: Option<u16>, topic: &str, payload: Bytes) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        topic: topic.into(),
        packet_id,
        payload,
    })
}

#[test]
fn connect_is_encoded_exactly_as_the_spec_lays_it_out() {
    let packet = Packet::Connect(Connect {
        protocol_level: 4,
        clean_session: true,
        keep_alive: 0x012c,
        client_id: "d".into(),
        will: Some(Will {
            topic: "w".into(),
            payload: Bytes::from_static(b"x"),
            qos: QoS::ExactlyOnce,
            retain: true,
        }),
        username: Some("u".into()),
        password: Some(Bytes::from_static(&[0xff])),
    });
    let expected = [
        0x10,
        25, // fixed header
        0,
        4,
        b'M',
        b'Q',
        b'T',
        b'T',
        4,           // protocol name and level
        0b1111_0110, // user, password, will retain, will QoS 2, will, clean
        0x01,
        0x2c, // keep alive
        0,
        1,
        b'd',
        0,
        1,
        b'w',
        0,
        1,
        b'x',
        0,
        1,
        b'u',
        0,
        1,
        0xff,
    ];
    assert_eq!(encoded(&packet), Ok(expected.to_vec()));
    assert_eq!(packet.encoded_len(), expected.len());
}

#[test]
fn publish_flags_carry_dup_qos_and_retain() {
    let packet = Packet::Publish(Publish {
        dup: true,
        qos: QoS::AtLeastOnce,
        retain: true,
        topic: "t".into(),
        packet_id: Some(0x0102),
        payload: Bytes::from_static(b"p"),
    });
    assert_eq!(encoded(&packet), Ok(vec![0x3b, 6, 0, 1, b't', 1, 2, b'p']));
}

#[test]
fn fixed_flag_packets_are_encoded_with_0b0010() {
    assert_eq!(encoded(&Packet::PubRel(1)), Ok(vec![0x62, 2, 0, 1]));
    let subscribe = Packet::Subscribe(Subscribe {
        packet_id: 1,
        filters: vec![("a".into(), QoS::AtLeastOnce)],
    });
    assert_eq!(encoded(&subscribe), Ok(vec![0x82, 6, 0, 1, 0, 1, b'a', 1]));
    let unsubscribe = Packet::Unsubscribe(Unsubscribe {
        packet_id: 1,
        filters: vec!["a".into()],
    });
    assert_eq!(encoded(&unsubscribe), Ok(vec![0xa2, 5, 0, 1, 0, 1, b'a']));
}

#[test]
fn server_packets_are_encoded_exactly() {
    let connack = Packet::ConnAck(ConnAck {
        session_present: true,
        code: ConnectReturnCode::NotAuthorized,
    });
    assert_eq!(encoded(&connack), Ok(vec![0x20, 2, 1, 5]));
    let suback = Packet::SubAck(SubAck {
        packet_id: 7,
        codes: vec![SubAckCode::Granted(QoS::ExactlyOnce), SubAckCode::Failure],
    });
    assert_eq!(encoded(&suback), Ok(vec![0x90, 4, 0, 7, 2, 0x80]));
    assert_eq!(encoded(&Packet::UnsubAck(7)), Ok(vec![0xb0, 2, 0, 7]));
    assert_eq!(encoded(&Packet::PingResp), Ok(vec![0xd0, 0]));
}

#[test]
fn bodyless_packets_are_two_bytes() {
    assert_eq!(encoded(&Packet::PingReq), Ok(vec![0xc0, 0]));
    assert_eq!(encoded(&Packet::Disconnect), Ok(vec![0xe0, 0]));
}

#[test]
fn qos1_publish_without_packet_id_is_refused() {
    assert_eq!(
        encoded(&publish(QoS::AtLeastOnce, None, "t", Bytes::new())),
        Err(EncodeError::MissingPacketId)
    );
}

#[test]
fn qos0_publish_with_packet_id_is_refused() {
    assert_eq!(
        encoded(&publish(QoS::AtMostOnce, Some(1), "t", Bytes::new())),
        Err(EncodeError::UnexpectedPacketId)
    );
}

#[test]
fn string_longer_than_65535_bytes_is_refused() {
    let topic = "a".repeat(65_536);
    assert_eq!(
        encoded(&publish(QoS::AtMostOnce, None, &topic, Bytes::new())),
        Err(EncodeError::StringTooLong(65_536))
    );
}

#[test]
fn string_of_exactly_65535_bytes_is_encoded() {
    let topic = "a".repeat(65_535);
    assert!(encoded(&publish(QoS::AtMostOnce, None, &topic, Bytes::new())).is_ok());
}

#[test]
fn binary_password_longer_than_65535_bytes_is_refused() {
    let packet = Packet::Connect(Connect {
        protocol_level: 4,
        clean_session: true,
        keep_alive: 0,
        client_id: String::new(),
        will: None,
        username: Some("u".into()),
        password: Some(Bytes::from(vec![0u8; 70_000])),
    });
    assert_eq!(encoded(&packet), Err(EncodeError::StringTooLong(70_000)));
}

#[test]
fn packet_over_the_mqtt_maximum_is_refused_without_writing_anything() {
    // Zeroed allocations are lazy, so this does not touch 256 MiB of memory.
    let payload = Bytes::from(vec![0u8; MAX_REMAINING_LENGTH]);
    let packet = publish(QoS::AtMostOnce, None, "t", payload);
    let mut buf = BytesMut::new();
    assert_eq!(
        encode(&packet, &mut buf),
        Err(EncodeError::PacketTooLarge(MAX_REMAINING_LENGTH + 3))
    );
    assert!(buf.is_empty());
}

#[test]
fn encode_appends_after_existing_bytes() {
    let mut buf = BytesMut::from(&[0xc0, 0][..]);
    assert_eq!(encode(&Packet::Disconnect, &mut buf), Ok(()));
    assert_eq!(&buf[..], &[0xc0, 0, 0xe0, 0]);
}

#[test]
fn encoder_lets_tests_craft_semantically_invalid_but_framed_packets() {
    // Wildcard topic and packet id 0: the decoder refuses these, the encoder
    // must not, so hostile-input tests can build them.
    assert!(encoded(&publish(QoS::AtLeastOnce, Some(0), "a/#", Bytes::new())).is_ok());
}

#[test]
fn encode_errors_display_a_human_readable_reason() {
    assert!(
        EncodeError::StringTooLong(70_000)
            .to_string()
            .contains("70000")
    );
}
