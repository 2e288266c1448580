//! Property tests: every valid packet survives encode then decode, however
//! the bytes are chunked on their way in and however many share a buffer.

use bytes::{Bytes, BytesMut};
use ferrohub_mqtt::{
    ConnAck, Connect, ConnectReturnCode, DecodeError, Limits, Packet, Publish, QoS, SubAck,
    SubAckCode, Subscribe, Unsubscribe, Will, decode, encode,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn packet_id() -> impl Strategy<Value = u16> {
    1..=u16::MAX
}

/// Any MQTT string the decoder accepts, multi-byte characters included.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 /._$+#ä€😀-]{0,24}"
}

fn topic_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 /._$ä€😀-]{1,24}"
}

fn topic_filter() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9/._$+#ä€-]{1,24}"
}

fn binary() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..200).prop_map(Bytes::from)
}

fn will() -> impl Strategy<Value = Will> {
    (topic_name(), binary(), qos(), any::<bool>()).prop_map(|(topic, payload, qos, retain)| Will {
        topic,
        payload,
        qos,
        retain,
    })
}

fn connect() -> impl Strategy<Value = Connect> {
    (
        any::<bool>(),
        any::<u16>(),
        text(),
        proptest::option::of(will()),
        proptest::option::of(text()),
        proptest::option::of(binary()),
    )
        .prop_map(
            |(clean_session, keep_alive, client_id, will, username, password)| Connect {
                protocol_level: 4,
                clean_session,
                keep_alive,
                client_id,
                will,
                // A password is only allowed alongside a user name.
                password: username.as_ref().and(password),
                username,
            },
        )
}

fn connack() -> impl Strategy<Value = ConnAck> {
    (any::<bool>(), 0u8..=5).prop_filter_map("known return code", |(session_present, raw)| {
        ConnectReturnCode::from_u8(raw).map(|code| ConnAck {
            session_present,
            code,
        })
    })
}

fn publish() -> impl Strategy<Value = Publish> {
    (
        qos(),
        packet_id(),
        any::<bool>(),
        any::<bool>(),
        topic_name(),
        binary(),
    )
        .prop_map(|(qos, id, dup, retain, topic, payload)| {
            let at_most_once = qos == QoS::AtMostOnce;
            Publish {
                // DUP is meaningless (and refused) at QoS 0.
                dup: dup && !at_most_once,
                qos,
                retain,
                topic,
                packet_id: (!at_most_once).then_some(id),
                payload,
            }
        })
}

fn suback_code() -> impl Strategy<Value = SubAckCode> {
    prop_oneof![
        qos().prop_map(SubAckCode::Granted),
        Just(SubAckCode::Failure)
    ]
}

fn packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        connect().prop_map(Packet::Connect),
        connack().prop_map(Packet::ConnAck),
        publish().prop_map(Packet::Publish),
        packet_id().prop_map(Packet::PubAck),
        packet_id().prop_map(Packet::PubRec),
        packet_id().prop_map(Packet::PubRel),
        packet_id().prop_map(Packet::PubComp),
        (packet_id(), vec((topic_filter(), qos()), 1..5))
            .prop_map(|(packet_id, filters)| Packet::Subscribe(Subscribe { packet_id, filters })),
        (packet_id(), vec(suback_code(), 1..5))
            .prop_map(|(packet_id, codes)| Packet::SubAck(SubAck { packet_id, codes })),
        (packet_id(), vec(topic_filter(), 1..5)).prop_map(|(packet_id, filters)| {
            Packet::Unsubscribe(Unsubscribe { packet_id, filters })
        }),
        packet_id().prop_map(Packet::UnsubAck),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        Just(Packet::Disconnect),
    ]
}

fn encode_all(packets: &[Packet]) -> Result<BytesMut, TestCaseError> {
    let mut wire = BytesMut::new();
    for packet in packets {
        encode(packet, &mut wire).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    Ok(wire)
}

/// Decodes every complete packet currently in `buf`.
fn drain(buf: &mut BytesMut, out: &mut Vec<Packet>) -> Result<(), DecodeError> {
    while let Some(packet) = decode(buf, &Limits::default())? {
        out.push(packet);
    }
    Ok(())
}

proptest! {
    #[test]
    fn every_valid_packet_survives_encode_then_decode(packet in packet()) {
        let mut wire = encode_all(std::slice::from_ref(&packet))?;
        prop_assert_eq!(wire.len(), packet.encoded_len());
        prop_assert_eq!(decode(&mut wire, &Limits::default()), Ok(Some(packet)));
        prop_assert!(wire.is_empty());
    }

    #[test]
    fn packets_concatenated_in_one_buffer_decode_in_order(packets in vec(packet(), 1..8)) {
        let mut wire = encode_all(&packets)?;
        let mut decoded = Vec::new();
        prop_assert_eq!(drain(&mut wire, &mut decoded), Ok(()));
        prop_assert_eq!(decoded, packets);
        prop_assert!(wire.is_empty());
    }

    #[test]
    fn packets_split_at_arbitrary_points_decode_the_same(
        packets in vec(packet(), 1..6),
        cuts in vec(any::<Index>(), 0..10),
    ) {
        let wire = encode_all(&packets)?;
        let mut cut_points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        cut_points.push(wire.len());
        cut_points.sort_unstable();

        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        let mut start = 0;
        for end in cut_points {
            buf.extend_from_slice(&wire[start..end]);
            start = end;
            prop_assert_eq!(drain(&mut buf, &mut decoded), Ok(()));
        }
        prop_assert_eq!(decoded, packets);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn byte_at_a_time_delivery_decodes_the_same(packet in packet()) {
        let wire = encode_all(std::slice::from_ref(&packet))?;
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        for byte in wire.iter() {
            buf.extend_from_slice(&[*byte]);
            prop_assert_eq!(drain(&mut buf, &mut decoded), Ok(()));
        }
        prop_assert_eq!(decoded, vec![packet]);
    }
}
