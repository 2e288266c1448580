//! The MQTT 3.1.1 control packets as plain Rust values.
//!
//! These types carry no framing details (lengths, flag bits); `decode` and
//! `encode` translate between them and the wire so callers never touch bits.

use bytes::Bytes;

/// Delivery guarantee of a message or subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QoS {
    AtMostOnce = 0,
    AtLeastOnce = 1,
    ExactlyOnce = 2,
}

impl QoS {
    /// Maps the two-bit wire value; 3 is reserved and yields `None`.
    pub fn from_u8(value: u8) -> Option<QoS> {
        match value {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

/// CONNACK return codes defined by MQTT 3.1.1 section 3.2.2.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectReturnCode {
    Accepted = 0,
    UnacceptableProtocolVersion = 1,
    IdentifierRejected = 2,
    ServerUnavailable = 3,
    BadUserNameOrPassword = 4,
    NotAuthorized = 5,
}

impl ConnectReturnCode {
    /// Maps the wire byte; 6..=255 are reserved and yield `None`.
    pub fn from_u8(value: u8) -> Option<ConnectReturnCode> {
        match value {
            0 => Some(ConnectReturnCode::Accepted),
            1 => Some(ConnectReturnCode::UnacceptableProtocolVersion),
            2 => Some(ConnectReturnCode::IdentifierRejected),
            3 => Some(ConnectReturnCode::ServerUnavailable),
            4 => Some(ConnectReturnCode::BadUserNameOrPassword),
            5 => Some(ConnectReturnCode::NotAuthorized),
            _ => None,
        }
    }
}

/// Last-will message the server publishes if the client vanishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
}

/// CONNECT: the first packet a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Always 4 after decode (other levels are refused); encode writes it as given.
    pub protocol_level: u8,
    pub clean_session: bool,
    pub keep_alive: u16,
    /// May be empty; whether that is acceptable is the server's decision.
    pub client_id: String,
    pub will: Option<Will>,
    pub username: Option<String>,
    /// Binary, not UTF-8: IoT Hub carries SAS tokens here, other brokers raw keys.
    pub password: Option<Bytes>,
}

/// CONNACK: the server's answer to CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    pub session_present: bool,
    pub code: ConnectReturnCode,
}

/// PUBLISH: an application message in either direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    pub topic: String,
    /// `Some` exactly when `qos` is above `AtMostOnce`.
    pub packet_id: Option<u16>,
    /// After decode this is a zero-copy slice of the received frame.
    pub payload: Bytes,
}

/// SUBSCRIBE: topic filters with their requested QoS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    pub packet_id: u16,
    pub filters: Vec<(String, QoS)>,
}

/// One SUBACK return code, in the order of the SUBSCRIBE filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubAckCode {
    Granted(QoS),
    /// Wire value 0x80.
    Failure,
}

/// SUBACK: the server's answer to SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    pub packet_id: u16,
    pub codes: Vec<SubAckCode>,
}

/// UNSUBSCRIBE: topic filters to drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub packet_id: u16,
    pub filters: Vec<String>,
}

/// Any MQTT 3.1.1 control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Connect(Connect),
    ConnAck(ConnAck),
    Publish(Publish),
    PubAck(u16),
    PubRec(u16),
    PubRel(u16),
    PubComp(u16),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(u16),
    PingReq,
    PingResp,
    Disconnect,
}

/// Wire packet-type numbers (upper nibble of the first byte).
pub(crate) mod kind {
    pub const CONNECT: u8 = 1;
    pub const CONNACK: u8 = 2;
    pub const PUBLISH: u8 = 3;
    pub const PUBACK: u8 = 4;
    pub const PUBREC: u8 = 5;
    pub const PUBREL: u8 = 6;
    pub const PUBCOMP: u8 = 7;
    pub const SUBSCRIBE: u8 = 8;
    pub const SUBACK: u8 = 9;
    pub const UNSUBSCRIBE: u8 = 10;
    pub const UNSUBACK: u8 = 11;
    pub const PINGREQ: u8 = 12;
    pub const PINGRESP: u8 = 13;
    pub const DISCONNECT: u8 = 14;
}
