//! Turns bytes from the wire into [`Packet`]s, refusing anything MQTT 3.1.1
//! does not allow.
//!
//! This is the first code that touches untrusted input, so it never panics,
//! never allocates beyond a body whose declared size already passed the
//! limit, and hands PUBLISH payloads out as zero-copy slices of the frame.

use bytes::{Buf, BytesMut};

use crate::header::{self, FixedHeader};
use crate::packet::kind;
use crate::reader::Reader;
use crate::{
    ConnAck, Connect, ConnectReturnCode, DecodeError, Limits, Packet, Publish, QoS, SubAck,
    SubAckCode, Subscribe, Unsubscribe, Will,
};

/// Decodes one packet from the front of `buf`.
///
/// Returns `Ok(None)` when `buf` does not yet hold a whole packet (nothing is
/// consumed). On `Ok(Some(_))` the packet's bytes have been removed from
/// `buf`. On `Err` the connection must be closed; `buf` is then unspecified.
pub fn decode(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Packet>, DecodeError> {
    let Some(header) = header::parse(buf, limits)? else {
        return Ok(None);
    };
    let Some(total) = header.header_len.checked_add(header.remaining_len) else {
        return Err(DecodeError::PacketTooLarge {
            size: header.remaining_len,
            max: limits.max_packet_size,
        });
    };
    if buf.len() < total {
        return Ok(None);
    }
    buf.advance(header.header_len);
    let body = Reader::new(buf.split_to(header.remaining_len).freeze());
    decode_body(header, body).map(Some)
}

fn decode_body(header: FixedHeader, mut body: Reader) -> Result<Packet, DecodeError> {
    let packet = match header.packet_type {
        kind::CONNECT => Packet::Connect(connect(&mut body)?),
        kind::CONNACK => Packet::ConnAck(connack(&mut body)?),
        kind::PUBLISH => return publish(header.flags, body).map(Packet::Publish),
        kind::PUBACK => Packet::PubAck(lone_packet_id(&mut body)?),
        kind::PUBREC => Packet::PubRec(lone_packet_id(&mut body)?),
        kind::PUBREL => Packet::PubRel(lone_packet_id(&mut body)?),
        kind::PUBCOMP => Packet::PubComp(lone_packet_id(&mut body)?),
        kind::SUBSCRIBE => Packet::Subscribe(subscribe(&mut body)?),
        kind::SUBACK => Packet::SubAck(suback(&mut body)?),
        kind::UNSUBSCRIBE => Packet::Unsubscribe(unsubscribe(&mut body)?),
        kind::UNSUBACK => Packet::UnsubAck(lone_packet_id(&mut body)?),
        kind::PINGREQ => Packet::PingReq,
        kind::PINGRESP => Packet::PingResp,
        kind::DISCONNECT => Packet::Disconnect,
        // header::parse already refused 0 and 15; the nibble cannot exceed 15.
        other => return Err(DecodeError::ReservedPacketType(other)),
    };
    body.finish("unexpected bytes after packet")?;
    Ok(packet)
}

// CONNECT flag bits, MQTT 3.1.1 section 3.1.2.3.
const RESERVED: u8 = 0b0000_0001;
const CLEAN_SESSION: u8 = 0b0000_0010;
const WILL: u8 = 0b0000_0100;
const WILL_QOS_SHIFT: u8 = 3;
const WILL_RETAIN: u8 = 0b0010_0000;
const PASSWORD: u8 = 0b0100_0000;
const USERNAME: u8 = 0b1000_0000;

fn connect(body: &mut Reader) -> Result<Connect, DecodeError> {
    // Compared as raw bytes so "MQIsdp" and garbage alike are a name error.
    let name = body.binary("protocol name truncated")?;
    if name.as_ref() != b"MQTT" {
        return Err(DecodeError::InvalidProtocolName);
    }
    let protocol_level = body.u8("protocol level missing")?;
    if protocol_level != 4 {
        return Err(DecodeError::UnsupportedProtocolLevel(protocol_level));
    }
    let flags = body.u8("connect flags missing")?;
    let will_qos = (flags >> WILL_QOS_SHIFT) & 0b11;
    let has_will = flags & WILL != 0;
    let flags_ok = flags & RESERVED == 0
        && !(flags & PASSWORD != 0 && flags & USERNAME == 0)
        && will_qos != 3
        && (has_will || (will_qos == 0 && flags & WILL_RETAIN == 0));
    if !flags_ok {
        return Err(DecodeError::InvalidConnectFlags);
    }
    let keep_alive = body.u16("keep alive truncated")?;
    let client_id = body.string("client identifier truncated")?;
    let will = if has_will {
        let topic = body.string("will topic truncated")?;
        if !crate::is_valid_topic_name(&topic) {
            return Err(DecodeError::InvalidTopicName);
        }
        let payload = body.binary("will message truncated")?;
        Some(Will {
            topic,
            payload,
            qos: QoS::from_u8(will_qos).ok_or(DecodeError::InvalidConnectFlags)?,
            retain: flags & WILL_RETAIN != 0,
        })
    } else {
        None
    };
    let username = match flags & USERNAME {
        0 => None,
        _ => Some(body.string("user name truncated")?),
    };
    let password = match flags & PASSWORD {
        0 => None,
        _ => Some(body.binary("password truncated")?),
    };
    Ok(Connect {
        protocol_level,
        clean_session: flags & CLEAN_SESSION != 0,
        keep_alive,
        client_id,
        will,
        username,
        password,
    })
}

fn connack(body: &mut Reader) -> Result<ConnAck, DecodeError> {
    let ack_flags = body.u8("connack flags missing")?;
    if ack_flags & !1 != 0 {
        return Err(DecodeError::MalformedPacket("connack reserved flags set"));
    }
    let raw = body.u8("connack return code missing")?;
    let code = ConnectReturnCode::from_u8(raw).ok_or(DecodeError::InvalidConnectReturnCode(raw))?;
    Ok(ConnAck {
        session_present: ack_flags == 1,
        code,
    })
}

fn publish(flags: u8, mut body: Reader) -> Result<Publish, DecodeError> {
    // header::parse already refused QoS 3.
    let qos = QoS::from_u8((flags >> 1) & 0b11).ok_or(DecodeError::InvalidQoS(3))?;
    let topic = body.string("topic name truncated")?;
    if !crate::is_valid_topic_name(&topic) {
        return Err(DecodeError::InvalidTopicName);
    }
    let packet_id = match qos {
        QoS::AtMostOnce => None,
        QoS::AtLeastOnce | QoS::ExactlyOnce => Some(body.packet_id()?),
    };
    Ok(Publish {
        dup: flags & 0b1000 != 0,
        qos,
        retain: flags & 0b0001 != 0,
        topic,
        packet_id,
        payload: body.rest(),
    })
}

/// PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK: exactly a packet id.
fn lone_packet_id(body: &mut Reader) -> Result<u16, DecodeError> {
    if body.remaining() != 2 {
        return Err(DecodeError::MalformedPacket("remaining length must be 2"));
    }
    body.packet_id()
}

fn subscribe(body: &mut Reader) -> Result<Subscribe, DecodeError> {
    let packet_id = body.packet_id()?;
    let mut filters = Vec::new();
    while body.remaining() > 0 {
        let filter = topic_filter(body)?;
        let requested = body.u8("requested QoS missing")?;
        // The upper six bits are reserved, so any byte above 2 is invalid.
        let qos = QoS::from_u8(requested).ok_or(DecodeError::InvalidQoS(requested))?;
        filters.push((filter, qos));
    }
    if filters.is_empty() {
        return Err(DecodeError::NoTopicFilters);
    }
    Ok(Subscribe { packet_id, filters })
}

fn unsubscribe(body: &mut Reader) -> Result<Unsubscribe, DecodeError> {
    let packet_id = body.packet_id()?;
    let mut filters = Vec::new();
    while body.remaining() > 0 {
        filters.push(topic_filter(body)?);
    }
    if filters.is_empty() {
        return Err(DecodeError::NoTopicFilters);
    }
    Ok(Unsubscribe { packet_id, filters })
}

/// Only emptiness is fatal here; wildcard placement is the server's call
/// (see `is_valid_topic_filter`) so it can answer with a SUBACK failure.
fn topic_filter(body: &mut Reader) -> Result<String, DecodeError> {
    let filter = body.string("topic filter truncated")?;
    if filter.is_empty() {
        return Err(DecodeError::InvalidTopicName);
    }
    Ok(filter)
}

fn suback(body: &mut Reader) -> Result<SubAck, DecodeError> {
    let packet_id = body.packet_id()?;
    let mut codes = Vec::with_capacity(body.remaining());
    while body.remaining() > 0 {
        let code = match body.u8("return code missing")? {
            0x80 => SubAckCode::Failure,
            raw => {
                SubAckCode::Granted(QoS::from_u8(raw).ok_or(DecodeError::InvalidSubAckCode(raw))?)
            }
        };
        codes.push(code);
    }
    if codes.is_empty() {
        return Err(DecodeError::MalformedPacket("suback without return codes"));
    }
    Ok(SubAck { packet_id, codes })
}
