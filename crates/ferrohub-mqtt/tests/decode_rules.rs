//! Hostile-input rules the decoder must enforce, one hand-written byte vector
//! per rule, so a regression names the exact rule it broke.

use bytes::{Bytes, BytesMut};
use ferrohub_mqtt::{
    ConnAck, Connect, ConnectReturnCode, DecodeError, Limits, Packet, Publish, QoS, SubAck,
    SubAckCode, Subscribe, Unsubscribe, Will, decode,
};

fn decode_bytes(bytes: &[u8]) -> Result<Option<Packet>, DecodeError> {
    decode(&mut BytesMut::from(bytes), &Limits::default())
}

fn malformed(result: Result<Option<Packet>, DecodeError>) -> bool {
    matches!(result, Err(DecodeError::MalformedPacket(_)))
}

/// Frames `body` behind `first` with a one- or two-byte remaining length.
fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let len = body.len();
    if len < 128 {
        out.push(len as u8);
    } else {
        out.push((len & 0x7f) as u8 | 0x80);
        out.push((len >> 7) as u8);
    }
    out.extend_from_slice(body);
    out
}

fn field(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

/// A CONNECT body: protocol name, level, flags, keep alive 60, then fields.
fn connect_body(name: &[u8], level: u8, flags: u8, fields: &[&[u8]]) -> Vec<u8> {
    let mut body = field(name);
    body.push(level);
    body.push(flags);
    body.extend_from_slice(&60u16.to_be_bytes());
    for f in fields {
        body.extend_from_slice(&field(f));
    }
    body
}

fn connect_with(flags: u8, fields: &[&[u8]]) -> Result<Option<Packet>, DecodeError> {
    decode_bytes(&frame(0x10, &connect_body(b"MQTT", 4, flags, fields)))
}

fn publish_with(first: u8, topic: &[u8], rest: &[u8]) -> Result<Option<Packet>, DecodeError> {
    let mut body = field(topic);
    body.extend_from_slice(rest);
    decode_bytes(&frame(first, &body))
}

// ---- framing -------------------------------------------------------------

#[test]
fn empty_buffer_needs_more_bytes() {
    assert_eq!(decode_bytes(&[]), Ok(None));
}

#[test]
fn incomplete_remaining_length_needs_more_bytes() {
    assert_eq!(decode_bytes(&[0x30, 0xff, 0xff]), Ok(None));
}

#[test]
fn fifth_length_byte_is_rejected_before_body_arrives() {
    let mut buf = BytesMut::from(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x7f][..]);
    assert_eq!(
        decode(&mut buf, &Limits::default()),
        Err(DecodeError::MalformedRemainingLength)
    );
}

#[test]
fn fourth_length_byte_with_continuation_bit_is_rejected_at_once() {
    // The fifth byte has not arrived; the continuation bit already dooms it.
    assert_eq!(
        decode_bytes(&[0x30, 0x80, 0x80, 0x80, 0x80]),
        Err(DecodeError::MalformedRemainingLength)
    );
}

#[test]
fn ten_megabyte_publish_is_refused_when_only_five_bytes_have_arrived() {
    let ten_mb = 10 * 1024 * 1024usize;
    let header = [
        0x30,
        (ten_mb & 0x7f) as u8 | 0x80,
        ((ten_mb >> 7) & 0x7f) as u8 | 0x80,
        ((ten_mb >> 14) & 0x7f) as u8 | 0x80,
        (ten_mb >> 21) as u8,
    ];
    let limits = Limits::default();
    assert_eq!(
        decode(&mut BytesMut::from(&header[..]), &limits),
        Err(DecodeError::PacketTooLarge {
            size: ten_mb,
            max: limits.max_packet_size
        })
    );
}

#[test]
fn packet_exactly_at_the_limit_is_accepted_and_one_byte_more_is_refused() {
    let limits = Limits {
        max_packet_size: 10,
    };
    let at_limit = frame(0x30, &[0, 1, b'a', 1, 2, 3, 4, 5, 6, 7]);
    assert!(matches!(
        decode(&mut BytesMut::from(&at_limit[..]), &limits),
        Ok(Some(Packet::Publish(_)))
    ));
    assert_eq!(
        decode(&mut BytesMut::from(&[0x30, 11][..]), &limits),
        Err(DecodeError::PacketTooLarge { size: 11, max: 10 })
    );
}

#[test]
fn default_limit_fits_a_256_kib_payload_with_its_topic() {
    assert_eq!(Limits::default().max_packet_size, 256 * 1024 + 1024);
}

#[test]
fn incomplete_packet_consumes_nothing() {
    let mut buf = BytesMut::from(&[0x40, 0x02, 0x00][..]);
    assert_eq!(decode(&mut buf, &Limits::default()), Ok(None));
    assert_eq!(buf.len(), 3);
    buf.extend_from_slice(&[0x07]);
    assert_eq!(
        decode(&mut buf, &Limits::default()),
        Ok(Some(Packet::PubAck(7)))
    );
    assert!(buf.is_empty());
}

#[test]
fn non_minimal_remaining_length_is_accepted_without_desync() {
    let mut buf = BytesMut::from(&[0xc0, 0x80, 0x00, 0xd0, 0x00][..]);
    let limits = Limits::default();
    assert_eq!(decode(&mut buf, &limits), Ok(Some(Packet::PingReq)));
    assert_eq!(decode(&mut buf, &limits), Ok(Some(Packet::PingResp)));
    assert!(buf.is_empty());
}

#[test]
fn decode_removes_exactly_one_packet_and_leaves_the_next() {
    let mut buf = BytesMut::from(&[0xc0, 0x00, 0xe0][..]);
    assert_eq!(
        decode(&mut buf, &Limits::default()),
        Ok(Some(Packet::PingReq))
    );
    assert_eq!(&buf[..], &[0xe0]);
}

// ---- packet types and flags --------------------------------------------

#[test]
fn packet_types_zero_and_fifteen_are_reserved() {
    assert_eq!(
        decode_bytes(&[0x00, 0x00]),
        Err(DecodeError::ReservedPacketType(0))
    );
    assert_eq!(
        decode_bytes(&[0xf0, 0x00]),
        Err(DecodeError::ReservedPacketType(15))
    );
}

#[test]
fn reserved_packet_type_is_rejected_from_the_first_byte_alone() {
    assert_eq!(
        decode_bytes(&[0xf0]),
        Err(DecodeError::ReservedPacketType(15))
    );
}

#[test]
fn every_fixed_header_flag_other_than_the_specified_one_is_rejected() {
    for packet_type in (1u8..=14).filter(|&t| t != 3) {
        let expected = if matches!(packet_type, 6 | 8 | 10) {
            2
        } else {
            0
        };
        for flags in (0u8..16).filter(|&f| f != expected) {
            assert_eq!(
                decode_bytes(&[packet_type << 4 | flags, 0x00]),
                Err(DecodeError::InvalidFlags { packet_type, flags }),
                "type {packet_type} flags {flags:#06b}"
            );
        }
    }
}

#[test]
fn pubrel_subscribe_and_unsubscribe_without_their_fixed_flag_are_rejected() {
    for packet_type in [6u8, 8, 10] {
        assert_eq!(
            decode_bytes(&[packet_type << 4, 0x02, 0x00, 0x01]),
            Err(DecodeError::InvalidFlags {
                packet_type,
                flags: 0
            })
        );
    }
}

#[test]
fn publish_qos3_is_rejected() {
    assert_eq!(
        publish_with(0x36, b"t", &[0, 1]),
        Err(DecodeError::InvalidQoS(3))
    );
}

#[test]
fn publish_qos0_with_dup_is_rejected() {
    assert_eq!(
        publish_with(0x38, b"t", b""),
        Err(DecodeError::InvalidFlags {
            packet_type: 3,
            flags: 0b1000
        })
    );
}

// ---- strings and inner lengths -----------------------------------------

#[test]
fn string_length_running_past_the_packet_is_malformed() {
    assert!(malformed(decode_bytes(&[0x30, 0x03, 0x00, 0x05, b'a'])));
}

#[test]
fn string_length_prefix_cut_by_the_packet_end_is_malformed() {
    assert!(malformed(decode_bytes(&[0x30, 0x01, 0x00])));
}

#[test]
fn invalid_utf8_in_a_topic_is_rejected() {
    assert_eq!(
        publish_with(0x30, &[b'a', 0xff], b""),
        Err(DecodeError::InvalidUtf8)
    );
}

#[test]
fn utf16_surrogate_encoded_in_a_topic_is_rejected_as_invalid_utf8() {
    assert_eq!(
        publish_with(0x30, &[0xed, 0xa0, 0x80], b""),
        Err(DecodeError::InvalidUtf8)
    );
}

#[test]
fn null_character_in_a_topic_is_rejected() {
    assert_eq!(
        publish_with(0x30, b"a\0b", b""),
        Err(DecodeError::NullCharacter)
    );
}

#[test]
fn null_character_in_client_id_is_rejected() {
    assert_eq!(
        connect_with(0x02, &[b"dev\0ice"]),
        Err(DecodeError::NullCharacter)
    );
}

#[test]
fn null_character_in_username_is_rejected() {
    assert_eq!(
        connect_with(0x82, &[b"device", b"hub/\0"]),
        Err(DecodeError::NullCharacter)
    );
}

#[test]
fn null_character_in_will_topic_is_rejected() {
    assert_eq!(
        connect_with(0x06, &[b"device", b"will\0", b"bye"]),
        Err(DecodeError::NullCharacter)
    );
}

#[test]
fn invalid_utf8_in_client_id_is_rejected() {
    assert_eq!(
        connect_with(0x02, &[&[0xc3, 0x28]]),
        Err(DecodeError::InvalidUtf8)
    );
}

// ---- CONNECT -------------------------------------------------------------

#[test]
fn minimal_connect_decodes() {
    assert_eq!(
        connect_with(0x02, &[b"device-1"]),
        Ok(Some(Packet::Connect(Connect {
            protocol_level: 4,
            clean_session: true,
            keep_alive: 60,
            client_id: "device-1".into(),
            will: None,
            username: None,
            password: None,
        })))
    );
}

#[test]
fn connect_with_will_username_and_binary_password_decodes() {
    // will, will QoS 1, will retain, password, user name; clean session off.
    let flags = 0b1110_1100;
    let password: &[u8] = &[0x00, 0xff, 0xfe];
    assert_eq!(
        connect_with(flags, &[b"d", b"lwt", b"gone", b"hub/d", password]),
        Ok(Some(Packet::Connect(Connect {
            protocol_level: 4,
            clean_session: false,
            keep_alive: 60,
            client_id: "d".into(),
            will: Some(Will {
                topic: "lwt".into(),
                payload: Bytes::from_static(b"gone"),
                qos: QoS::AtLeastOnce,
                retain: true,
            }),
            username: Some("hub/d".into()),
            password: Some(Bytes::from_static(password)),
        })))
    );
}

#[test]
fn empty_client_id_is_left_for_the_server_to_judge() {
    assert!(matches!(
        connect_with(0x00, &[b""]),
        Ok(Some(Packet::Connect(Connect { client_id, .. }))) if client_id.is_empty()
    ));
}

#[test]
fn protocol_name_other_than_mqtt_is_rejected() {
    for name in [&b"MQIsdp"[..], b"mqtt", b"MQT", b"", &[0xff, 0xfe]] {
        assert_eq!(
            decode_bytes(&frame(0x10, &connect_body(name, 4, 0x02, &[b"d"]))),
            Err(DecodeError::InvalidProtocolName)
        );
    }
}

#[test]
fn protocol_level_other_than_4_is_reported_with_its_value() {
    for level in [3u8, 5, 0, 255] {
        assert_eq!(
            decode_bytes(&frame(0x10, &connect_body(b"MQTT", level, 0x02, &[b"d"]))),
            Err(DecodeError::UnsupportedProtocolLevel(level))
        );
    }
}

#[test]
fn connect_reserved_flag_is_rejected() {
    assert_eq!(
        connect_with(0x03, &[b"d"]),
        Err(DecodeError::InvalidConnectFlags)
    );
}

#[test]
fn password_without_username_is_rejected() {
    assert_eq!(
        connect_with(0x42, &[b"d", b"secret"]),
        Err(DecodeError::InvalidConnectFlags)
    );
}

#[test]
fn will_qos3_is_rejected() {
    assert_eq!(
        connect_with(0b0001_1110, &[b"d", b"t", b"m"]),
        Err(DecodeError::InvalidConnectFlags)
    );
}

#[test]
fn will_qos_without_will_flag_is_rejected() {
    assert_eq!(
        connect_with(0b0000_1010, &[b"d"]),
        Err(DecodeError::InvalidConnectFlags)
    );
}

#[test]
fn will_retain_without_will_flag_is_rejected() {
    assert_eq!(
        connect_with(0b0010_0010, &[b"d"]),
        Err(DecodeError::InvalidConnectFlags)
    );
}

#[test]
fn will_topic_with_wildcard_is_rejected() {
    assert_eq!(
        connect_with(0x06, &[b"d", b"a/#", b"m"]),
        Err(DecodeError::InvalidTopicName)
    );
}

#[test]
fn connect_missing_its_username_field_is_malformed() {
    assert!(malformed(connect_with(0x82, &[b"d"])));
}

#[test]
fn connect_with_trailing_bytes_is_malformed() {
    let mut body = connect_body(b"MQTT", 4, 0x02, &[b"d"]);
    body.push(0);
    assert!(malformed(decode_bytes(&frame(0x10, &body))));
}

#[test]
fn connect_truncated_inside_the_variable_header_is_malformed() {
    assert!(malformed(decode_bytes(&frame(
        0x10,
        &[0, 4, b'M', b'Q', b'T', b'T', 4]
    ))));
}

// ---- CONNACK -------------------------------------------------------------

#[test]
fn connack_decodes_in_the_client_direction() {
    assert_eq!(
        decode_bytes(&[0x20, 0x02, 0x01, 0x00]),
        Ok(Some(Packet::ConnAck(ConnAck {
            session_present: true,
            code: ConnectReturnCode::Accepted
        })))
    );
}

#[test]
fn connack_with_reserved_ack_flags_is_malformed() {
    assert!(malformed(decode_bytes(&[0x20, 0x02, 0x02, 0x00])));
}

#[test]
fn connack_with_unknown_return_code_is_rejected() {
    assert_eq!(
        decode_bytes(&[0x20, 0x02, 0x00, 0x06]),
        Err(DecodeError::InvalidConnectReturnCode(6))
    );
}

#[test]
fn connack_with_wrong_remaining_length_is_malformed() {
    assert!(malformed(decode_bytes(&[0x20, 0x03, 0x00, 0x00, 0x00])));
    assert!(malformed(decode_bytes(&[0x20, 0x01, 0x00])));
}

// ---- PUBLISH -------------------------------------------------------------

#[test]
fn publish_qos1_decodes_with_its_packet_id() {
    assert_eq!(
        publish_with(0x33, b"a/b", &[0x12, 0x34, b'h', b'i']),
        Ok(Some(Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: true,
            topic: "a/b".into(),
            packet_id: Some(0x1234),
            payload: Bytes::from_static(b"hi"),
        })))
    );
}

#[test]
fn publish_empty_topic_is_rejected() {
    assert_eq!(
        publish_with(0x30, b"", b"x"),
        Err(DecodeError::InvalidTopicName)
    );
}

#[test]
fn publish_topic_with_wildcards_is_rejected() {
    for topic in [&b"a/+"[..], b"#", b"a/#", b"+"] {
        assert_eq!(
            publish_with(0x30, topic, b""),
            Err(DecodeError::InvalidTopicName)
        );
    }
}

#[test]
fn publish_qos1_with_packet_id_zero_is_rejected() {
    assert_eq!(
        publish_with(0x32, b"t", &[0, 0]),
        Err(DecodeError::ZeroPacketId)
    );
}

#[test]
fn publish_qos2_missing_its_packet_id_is_malformed() {
    assert!(malformed(publish_with(0x34, b"t", &[0])));
}

#[test]
fn publish_with_empty_payload_is_fine() {
    assert!(matches!(
        publish_with(0x30, b"t", b""),
        Ok(Some(Packet::Publish(Publish { payload, .. }))) if payload.is_empty()
    ));
}

#[test]
fn publish_payload_is_a_zero_copy_slice_of_the_received_frame() {
    let mut buf = BytesMut::from(&frame(0x30, &[0, 1, b't', 1, 2, 3, 4])[..]);
    let start = buf.as_ptr() as usize;
    let end = start + buf.len();
    let Ok(Some(Packet::Publish(publish))) = decode(&mut buf, &Limits::default()) else {
        panic!("publish expected");
    };
    let payload_at = publish.payload.as_ptr() as usize;
    assert!((start..end).contains(&payload_at));
    assert_eq!(&publish.payload[..], &[1, 2, 3, 4]);
}

// ---- packets that are only a packet id ---------------------------------

#[test]
fn id_only_packets_decode() {
    assert_eq!(decode_bytes(&[0x40, 2, 0, 1]), Ok(Some(Packet::PubAck(1))));
    assert_eq!(decode_bytes(&[0x50, 2, 0, 2]), Ok(Some(Packet::PubRec(2))));
    assert_eq!(decode_bytes(&[0x62, 2, 0, 3]), Ok(Some(Packet::PubRel(3))));
    assert_eq!(decode_bytes(&[0x70, 2, 0, 4]), Ok(Some(Packet::PubComp(4))));
    assert_eq!(
        decode_bytes(&[0xb0, 2, 1, 0]),
        Ok(Some(Packet::UnsubAck(256)))
    );
}

#[test]
fn id_only_packets_with_remaining_length_other_than_2_are_malformed() {
    for first in [0x40u8, 0x50, 0x62, 0x70, 0xb0] {
        assert!(malformed(decode_bytes(&[first, 3, 0, 1, 0])), "{first:#x}");
        assert!(malformed(decode_bytes(&[first, 1, 1])), "{first:#x}");
        assert!(malformed(decode_bytes(&[first, 0])), "{first:#x}");
    }
}

#[test]
fn id_only_packets_with_packet_id_zero_are_rejected() {
    for first in [0x40u8, 0x50, 0x62, 0x70, 0xb0] {
        assert_eq!(
            decode_bytes(&[first, 2, 0, 0]),
            Err(DecodeError::ZeroPacketId)
        );
    }
}

// ---- SUBSCRIBE / SUBACK / UNSUBSCRIBE ------------------------------------

fn subscribe_bytes(id: u16, entries: &[(&[u8], u8)]) -> Vec<u8> {
    let mut body = id.to_be_bytes().to_vec();
    for (filter, qos) in entries {
        body.extend_from_slice(&field(filter));
        body.push(*qos);
    }
    frame(0x82, &body)
}

#[test]
fn subscribe_decodes_its_filters_in_order() {
    assert_eq!(
        decode_bytes(&subscribe_bytes(
            9,
            &[
                (b"devices/d/messages/devicebound/#", 1),
                (b"$iothub/twin/res/#", 0)
            ]
        )),
        Ok(Some(Packet::Subscribe(Subscribe {
            packet_id: 9,
            filters: vec![
                ("devices/d/messages/devicebound/#".into(), QoS::AtLeastOnce),
                ("$iothub/twin/res/#".into(), QoS::AtMostOnce),
            ],
        })))
    );
}

#[test]
fn subscribe_with_packet_id_zero_is_rejected() {
    assert_eq!(
        decode_bytes(&subscribe_bytes(0, &[(b"a", 0)])),
        Err(DecodeError::ZeroPacketId)
    );
}

#[test]
fn subscribe_without_filters_is_rejected() {
    assert_eq!(
        decode_bytes(&subscribe_bytes(1, &[])),
        Err(DecodeError::NoTopicFilters)
    );
}

#[test]
fn subscribe_requesting_qos3_is_rejected() {
    assert_eq!(
        decode_bytes(&subscribe_bytes(1, &[(b"a", 3)])),
        Err(DecodeError::InvalidQoS(3))
    );
}

#[test]
fn subscribe_with_reserved_bits_in_requested_qos_is_rejected() {
    assert_eq!(
        decode_bytes(&subscribe_bytes(1, &[(b"a", 0x41)])),
        Err(DecodeError::InvalidQoS(0x41))
    );
}

#[test]
fn subscribe_with_empty_filter_is_rejected() {
    assert_eq!(
        decode_bytes(&subscribe_bytes(1, &[(b"", 0)])),
        Err(DecodeError::InvalidTopicName)
    );
}

#[test]
fn subscribe_filter_missing_its_qos_byte_is_malformed() {
    let mut body = 1u16.to_be_bytes().to_vec();
    body.extend_from_slice(&field(b"a"));
    assert!(malformed(decode_bytes(&frame(0x82, &body))));
}

#[test]
fn subscribe_with_null_in_filter_is_rejected() {
    assert_eq!(
        decode_bytes(&subscribe_bytes(1, &[(b"a\0", 0)])),
        Err(DecodeError::NullCharacter)
    );
}

#[test]
fn suback_decodes_granted_and_failure_codes() {
    assert_eq!(
        decode_bytes(&[0x90, 6, 0, 5, 0, 1, 2, 0x80]),
        Ok(Some(Packet::SubAck(SubAck {
            packet_id: 5,
            codes: vec![
                SubAckCode::Granted(QoS::AtMostOnce),
                SubAckCode::Granted(QoS::AtLeastOnce),
                SubAckCode::Granted(QoS::ExactlyOnce),
                SubAckCode::Failure,
            ],
        })))
    );
}

#[test]
fn suback_with_codes_other_than_0_1_2_and_0x80_is_rejected() {
    for code in [3u8, 0x81, 0x7f, 0xff] {
        assert_eq!(
            decode_bytes(&[0x90, 3, 0, 5, code]),
            Err(DecodeError::InvalidSubAckCode(code))
        );
    }
}

#[test]
fn suback_without_codes_is_malformed() {
    assert!(malformed(decode_bytes(&[0x90, 2, 0, 5])));
}

#[test]
fn suback_with_packet_id_zero_is_rejected() {
    assert_eq!(
        decode_bytes(&[0x90, 3, 0, 0, 0]),
        Err(DecodeError::ZeroPacketId)
    );
}

fn unsubscribe_bytes(id: u16, filters: &[&[u8]]) -> Vec<u8> {
    let mut body = id.to_be_bytes().to_vec();
    for filter in filters {
        body.extend_from_slice(&field(filter));
    }
    frame(0xa2, &body)
}

#[test]
fn unsubscribe_decodes_its_filters() {
    assert_eq!(
        decode_bytes(&unsubscribe_bytes(3, &[b"a/+", b"#"])),
        Ok(Some(Packet::Unsubscribe(Unsubscribe {
            packet_id: 3,
            filters: vec!["a/+".into(), "#".into()],
        })))
    );
}

#[test]
fn unsubscribe_with_packet_id_zero_is_rejected() {
    assert_eq!(
        decode_bytes(&unsubscribe_bytes(0, &[b"a"])),
        Err(DecodeError::ZeroPacketId)
    );
}

#[test]
fn unsubscribe_without_filters_is_rejected() {
    assert_eq!(
        decode_bytes(&unsubscribe_bytes(1, &[])),
        Err(DecodeError::NoTopicFilters)
    );
}

#[test]
fn unsubscribe_with_empty_filter_is_rejected() {
    assert_eq!(
        decode_bytes(&unsubscribe_bytes(1, &[b"a", b""])),
        Err(DecodeError::InvalidTopicName)
    );
}

#[test]
fn unsubscribe_with_a_truncated_filter_is_malformed() {
    assert!(malformed(decode_bytes(&frame(0xa2, &[0, 1, 0, 3, b'a']))));
}

// ---- packets without a body --------------------------------------------

#[test]
fn pingreq_pingresp_and_disconnect_decode() {
    assert_eq!(decode_bytes(&[0xc0, 0]), Ok(Some(Packet::PingReq)));
    assert_eq!(decode_bytes(&[0xd0, 0]), Ok(Some(Packet::PingResp)));
    assert_eq!(decode_bytes(&[0xe0, 0]), Ok(Some(Packet::Disconnect)));
}

#[test]
fn bodyless_packets_with_a_body_are_malformed() {
    for first in [0xc0u8, 0xd0, 0xe0] {
        assert!(malformed(decode_bytes(&[first, 1, 0])), "{first:#x}");
    }
}

#[test]
fn errors_display_a_human_readable_reason() {
    let text = DecodeError::PacketTooLarge { size: 11, max: 10 }.to_string();
    assert!(text.contains("11") && text.contains("10"));
    let boxed: Box<dyn std::error::Error> = Box::new(DecodeError::ZeroPacketId);
    assert!(!boxed.to_string().is_empty());
}
