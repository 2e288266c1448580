//! Why a packet could not be decoded or encoded.
//!
//! Hand-written `Display`/`Error` impls keep the crate dependency-free. Every
//! decode error means the peer broke the protocol; MQTT 3.1.1 says the
//! connection must then be closed, so none of them are recoverable in-stream.

use std::fmt;

/// A protocol violation found while decoding. After any of these the input
/// buffer's contents are unspecified and the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The remaining length used a fifth byte (or more).
    MalformedRemainingLength,
    /// The declared remaining length exceeds the configured limit.
    PacketTooLarge {
        size: usize,
        max: usize,
    },
    /// Packet type 0 or 15.
    ReservedPacketType(u8),
    /// Fixed-header flag bits that MQTT 3.1.1 fixes to other values.
    InvalidFlags {
        packet_type: u8,
        flags: u8,
    },
    /// A QoS value of 3 (PUBLISH) or above 2 (SUBSCRIBE request byte).
    InvalidQoS(u8),
    InvalidUtf8,
    /// U+0000 inside an MQTT UTF-8 string.
    NullCharacter,
    /// CONNECT protocol name other than "MQTT".
    InvalidProtocolName,
    /// CONNECT protocol level other than 4; the server answers CONNACK 1.
    UnsupportedProtocolLevel(u8),
    InvalidConnectFlags,
    /// CONNACK return code above 5.
    InvalidConnectReturnCode(u8),
    ZeroPacketId,
    /// SUBSCRIBE or UNSUBSCRIBE with an empty payload.
    NoTopicFilters,
    /// Empty or wildcard-bearing topic name, or an empty topic filter.
    InvalidTopicName,
    InvalidSubAckCode(u8),
    /// Lengths that do not add up, or bytes where none are allowed.
    MalformedPacket(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MalformedRemainingLength => write!(f, "remaining length longer than 4 bytes"),
            Self::PacketTooLarge { size, max } => {
                write!(f, "packet of {size} bytes exceeds the {max}-byte limit")
            }
            Self::ReservedPacketType(t) => write!(f, "reserved packet type {t}"),
            Self::InvalidFlags { packet_type, flags } => {
                write!(
                    f,
                    "invalid flags {flags:#06b} for packet type {packet_type}"
                )
            }
            Self::InvalidQoS(q) => write!(f, "invalid QoS {q}"),
            Self::InvalidUtf8 => write!(f, "string is not valid UTF-8"),
            Self::NullCharacter => write!(f, "string contains U+0000"),
            Self::InvalidProtocolName => write!(f, "protocol name is not \"MQTT\""),
            Self::UnsupportedProtocolLevel(l) => write!(f, "unsupported protocol level {l}"),
            Self::InvalidConnectFlags => write!(f, "invalid CONNECT flags"),
            Self::InvalidConnectReturnCode(c) => write!(f, "invalid CONNACK return code {c}"),
            Self::ZeroPacketId => write!(f, "packet identifier is zero"),
            Self::NoTopicFilters => write!(f, "no topic filters"),
            Self::InvalidTopicName => write!(f, "invalid topic name"),
            Self::InvalidSubAckCode(c) => write!(f, "invalid SUBACK return code {c:#04x}"),
            Self::MalformedPacket(why) => write!(f, "malformed packet: {why}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A packet value that cannot be put on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// Remaining length above 268,435,455 bytes (the 4-byte varint maximum).
    PacketTooLarge(usize),
    /// A string or binary field above 65,535 bytes (the u16 length prefix).
    StringTooLong(usize),
    /// PUBLISH with QoS above 0 but no packet id.
    MissingPacketId,
    /// PUBLISH with QoS 0 carrying a packet id, which the wire cannot express.
    UnexpectedPacketId,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PacketTooLarge(size) => {
                write!(f, "remaining length {size} exceeds the MQTT maximum")
            }
            Self::StringTooLong(len) => write!(f, "field of {len} bytes exceeds 65535"),
            Self::MissingPacketId => write!(f, "QoS>0 PUBLISH without packet id"),
            Self::UnexpectedPacketId => write!(f, "QoS 0 PUBLISH with packet id"),
        }
    }
}

impl std::error::Error for EncodeError {}
