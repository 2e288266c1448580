//! Puts [`Packet`]s on the wire in exact MQTT 3.1.1 form.
//!
//! Encoding checks only what the wire format itself cannot express (over-long
//! fields, a QoS/packet-id mismatch, oversized packets). Semantic rules such as
//! "topic names carry no wildcards" are deliberately not enforced, so test
//! tools can produce well-framed hostile packets; `decode` is the gatekeeper.
//! Nothing is written to the buffer unless the whole packet is encodable.

use bytes::{BufMut, BytesMut};

use crate::{Connect, EncodeError, Packet, Publish, QoS, SubAckCode};

/// Largest remaining length a four-byte varint can express.
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// Appends `packet` to `buf`, using the minimal remaining-length encoding.
pub fn encode(packet: &Packet, buf: &mut BytesMut) -> Result<(), EncodeError> {
    validate(packet)?;
    let remaining = body_len(packet);
    if remaining > MAX_REMAINING_LENGTH {
        return Err(EncodeError::PacketTooLarge(remaining));
    }
    buf.reserve(1 + varint_len(remaining) + remaining);
    buf.put_u8(first_byte(packet));
    put_varint(buf, remaining);
    put_body(packet, buf);
    Ok(())
}

impl Packet {
    /// Bytes `encode` would write, fixed header included. Meaningful only for
    /// packets `encode` accepts.
    pub fn encoded_len(&self) -> usize {
        let remaining = body_len(self);
        1usize
            .saturating_add(varint_len(remaining))
            .saturating_add(remaining)
    }
}

fn validate(packet: &Packet) -> Result<(), EncodeError> {
    match packet {
        Packet::Connect(c) => {
            check_field(&c.client_id)?;
            if let Some(will) = &c.will {
                check_field(&will.topic)?;
                check_field(&will.payload)?;
            }
            if let Some(username) = &c.username {
                check_field(username)?;
            }
            if let Some(password) = &c.password {
                check_field(password)?;
            }
            Ok(())
        }
        Packet::Publish(p) => {
            check_field(&p.topic)?;
            match (p.qos, p.packet_id) {
                (QoS::AtMostOnce, Some(_)) => Err(EncodeError::UnexpectedPacketId),
                (QoS::AtLeastOnce | QoS::ExactlyOnce, None) => Err(EncodeError::MissingPacketId),
                _ => Ok(()),
            }
        }
        Packet::Subscribe(s) => s.filters.iter().try_for_each(|(f, _)| check_field(f)),
        Packet::Unsubscribe(u) => u.filters.iter().try_for_each(check_field),
        _ => Ok(()),
    }
}

/// Strings and binary fields carry a u16 length prefix.
fn check_field(field: impl AsRef<[u8]>) -> Result<(), EncodeError> {
    let len = field.as_ref().len();
    if len > usize::from(u16::MAX) {
        return Err(EncodeError::StringTooLong(len));
    }
    Ok(())
}

fn first_byte(packet: &Packet) -> u8 {
    match packet {
        Packet::Connect(_) => 0x10,
        Packet::ConnAck(_) => 0x20,
        Packet::Publish(p) => 0x30 | u8::from(p.dup) << 3 | (p.qos as u8) << 1 | u8::from(p.retain),
        Packet::PubAck(_) => 0x40,
        Packet::PubRec(_) => 0x50,
        // These three carry the fixed flags 0b0010 required by 3.1.1.
        Packet::PubRel(_) => 0x62,
        Packet::PubComp(_) => 0x70,
        Packet::Subscribe(_) => 0x82,
        Packet::SubAck(_) => 0x90,
        Packet::Unsubscribe(_) => 0xa2,
        Packet::UnsubAck(_) => 0xb0,
        Packet::PingReq => 0xc0,
        Packet::PingResp => 0xd0,
        Packet::Disconnect => 0xe0,
    }
}

/// Size of a length-prefixed field on the wire.
fn field_len(field: impl AsRef<[u8]>) -> usize {
    2usize.saturating_add(field.as_ref().len())
}

fn body_len(packet: &Packet) -> usize {
    match packet {
        Packet::Connect(c) => connect_len(c),
        Packet::ConnAck(_) => 2,
        Packet::Publish(p) => field_len(&p.topic)
            .saturating_add(if p.packet_id.is_some() { 2 } else { 0 })
            .saturating_add(p.payload.len()),
        Packet::PubAck(_)
        | Packet::PubRec(_)
        | Packet::PubRel(_)
        | Packet::PubComp(_)
        | Packet::UnsubAck(_) => 2,
        Packet::Subscribe(s) => s
            .filters
            .iter()
            .fold(2usize, |sum, (f, _)| sum.saturating_add(field_len(f) + 1)),
        Packet::SubAck(s) => 2usize.saturating_add(s.codes.len()),
        Packet::Unsubscribe(u) => u
            .filters
            .iter()
            .fold(2usize, |sum, f| sum.saturating_add(field_len(f))),
        Packet::PingReq | Packet::PingResp | Packet::Disconnect => 0,
    }
}

fn connect_len(c: &Connect) -> usize {
    // Protocol name "MQTT" (2 + 4), level, flags, keep alive.
    let mut len = 6 + 1 + 1 + 2 + field_len(&c.client_id);
    if let Some(will) = &c.will {
        len = len
            .saturating_add(field_len(&will.topic))
            .saturating_add(field_len(&will.payload));
    }
    if let Some(username) = &c.username {
        len = len.saturating_add(field_len(username));
    }
    if let Some(password) = &c.password {
        len = len.saturating_add(field_len(password));
    }
    len
}

fn varint_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Minimal remaining-length encoding; `value` is at most `MAX_REMAINING_LENGTH`.
fn put_varint(buf: &mut BytesMut, mut value: usize) {
    loop {
        // Truncation is the point: the low seven bits of this digit.
        let mut byte = (value & 0x7f) as u8;
        value >>= 7;
        if value > 0 {
            byte |= 0x80;
        }
        buf.put_u8(byte);
        if value == 0 {
            return;
        }
    }
}

/// Writes a length-prefixed field already checked by `validate`.
fn put_field(buf: &mut BytesMut, field: impl AsRef<[u8]>) {
    let field = field.as_ref();
    let len = u16::try_from(field.len()).unwrap_or(u16::MAX);
    buf.put_u16(len);
    buf.put_slice(field);
}

fn put_body(packet: &Packet, buf: &mut BytesMut) {
    match packet {
        Packet::Connect(c) => put_connect(c, buf),
        Packet::ConnAck(a) => {
            buf.put_u8(u8::from(a.session_present));
            buf.put_u8(a.code as u8);
        }
        Packet::Publish(p) => put_publish(p, buf),
        Packet::PubAck(id)
        | Packet::PubRec(id)
        | Packet::PubRel(id)
        | Packet::PubComp(id)
        | Packet::UnsubAck(id) => buf.put_u16(*id),
        Packet::Subscribe(s) => {
            buf.put_u16(s.packet_id);
            for (filter, qos) in &s.filters {
                put_field(buf, filter);
                buf.put_u8(*qos as u8);
            }
        }
        Packet::SubAck(s) => {
            buf.put_u16(s.packet_id);
            for code in &s.codes {
                buf.put_u8(match code {
                    SubAckCode::Granted(qos) => *qos as u8,
                    SubAckCode::Failure => 0x80,
                });
            }
        }
        Packet::Unsubscribe(u) => {
            buf.put_u16(u.packet_id);
            for filter in &u.filters {
                put_field(buf, filter);
            }
        }
        Packet::PingReq | Packet::PingResp | Packet::Disconnect => {}
    }
}

fn put_connect(c: &Connect, buf: &mut BytesMut) {
    put_field(buf, b"MQTT");
    buf.put_u8(c.protocol_level);
    let mut flags = u8::from(c.clean_session) << 1;
    if let Some(will) = &c.will {
        flags |= 0b100 | (will.qos as u8) << 3 | u8::from(will.retain) << 5;
    }
    flags |= u8::from(c.password.is_some()) << 6 | u8::from(c.username.is_some()) << 7;
    buf.put_u8(flags);
    buf.put_u16(c.keep_alive);
    put_field(buf, &c.client_id);
    if let Some(will) = &c.will {
        put_field(buf, &will.topic);
        put_field(buf, &will.payload);
    }
    if let Some(username) = &c.username {
        put_field(buf, username);
    }
    if let Some(password) = &c.password {
        put_field(buf, password);
    }
}

fn put_publish(p: &Publish, buf: &mut BytesMut) {
    put_field(buf, &p.topic);
    if let Some(id) = p.packet_id {
        buf.put_u16(id);
    }
    buf.put_slice(&p.payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(value: usize) -> Vec<u8> {
        let mut buf = BytesMut::new();
        put_varint(&mut buf, value);
        buf.to_vec()
    }

    #[test]
    fn remaining_length_uses_the_minimal_number_of_bytes_at_every_boundary() {
        let cases: [(usize, &[u8]); 9] = [
            (0, &[0x00]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xff, 0x7f]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xff, 0xff, 0x7f]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (10 * 1024 * 1024, &[0x80, 0x80, 0x80, 0x05]),
            (MAX_REMAINING_LENGTH, &[0xff, 0xff, 0xff, 0x7f]),
        ];
        for (value, expected) in cases {
            assert_eq!(varint(value), expected, "{value}");
            assert_eq!(varint_len(value), expected.len(), "{value}");
        }
    }
}
