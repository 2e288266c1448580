//! MQTT 3.1.1 packet codec for ferrohub.
//!
//! The gateway, the load generator and the tests all speak MQTT, so the wire
//! format lives here once, in both directions (client and server packets).
//! The crate is deliberately runtime-free: it never does I/O, never reads the
//! clock and depends only on `bytes`. Decoding is the gatekeeper against
//! hostile peers (see [`decode`]); encoding is exact but permissive about
//! semantics so test tools can craft well-framed yet invalid packets.

#![forbid(unsafe_code)]

mod decode;
mod encode;
mod error;
mod header;
mod limits;
mod packet;
mod reader;
mod topic;

pub use decode::decode;
pub use encode::{MAX_REMAINING_LENGTH, encode};
pub use error::{DecodeError, EncodeError};
pub use limits::Limits;
pub use packet::{
    ConnAck, Connect, ConnectReturnCode, Packet, Publish, QoS, SubAck, SubAckCode, Subscribe,
    Unsubscribe, Will,
};
pub use topic::{is_valid_topic_filter, is_valid_topic_name};
