//! Fixed header: packet type, flag bits and remaining length.
//!
//! This is the only part of a packet parsed from a possibly incomplete buffer,
//! so it is where hostile framing is stopped early: bad types and flags are
//! refused from the first byte, an over-long or oversized remaining length as
//! soon as its bytes show it, all without waiting for (or buffering) a body.

use crate::packet::kind;
use crate::{DecodeError, Limits};

/// A validated fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FixedHeader {
    pub(crate) packet_type: u8,
    pub(crate) flags: u8,
    /// Bytes taken by the type byte plus the remaining-length varint.
    pub(crate) header_len: usize,
    pub(crate) remaining_len: usize,
}

/// Parses the fixed header at the start of `buf`.
///
/// `Ok(None)` means more bytes are needed to know the header. Non-minimal
/// remaining-length encodings such as `80 00` are accepted: 3.1.1 does not
/// forbid them outright, and since `header_len` counts the bytes actually
/// used, framing stays in sync; only the fifth byte is malformed.
pub(crate) fn parse(buf: &[u8], limits: &Limits) -> Result<Option<FixedHeader>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let packet_type = first >> 4;
    let flags = first & 0x0f;
    check_flags(packet_type, flags)?;

    let mut remaining_len = 0usize;
    for (index, &byte) in buf.iter().skip(1).take(4).enumerate() {
        remaining_len |= usize::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            // Checked on the declared size alone, before any body byte is
            // waited for. Not checked on a partial varint, so that a fifth
            // length byte is reported as malformed whatever its value.
            if remaining_len > limits.max_packet_size {
                return Err(DecodeError::PacketTooLarge {
                    size: remaining_len,
                    max: limits.max_packet_size,
                });
            }
            return Ok(Some(FixedHeader {
                packet_type,
                flags,
                header_len: index + 2,
                remaining_len,
            }));
        }
        if index == 3 {
            return Err(DecodeError::MalformedRemainingLength);
        }
    }
    Ok(None)
}

/// Enforces the fixed-header flag bits of MQTT 3.1.1 section 2.2.2.
fn check_flags(packet_type: u8, flags: u8) -> Result<(), DecodeError> {
    let expected = match packet_type {
        0 | 15 => return Err(DecodeError::ReservedPacketType(packet_type)),
        kind::PUBLISH => return check_publish_flags(flags),
        kind::PUBREL | kind::SUBSCRIBE | kind::UNSUBSCRIBE => 0b0010,
        _ => 0,
    };
    if flags == expected {
        Ok(())
    } else {
        Err(DecodeError::InvalidFlags { packet_type, flags })
    }
}

fn check_publish_flags(flags: u8) -> Result<(), DecodeError> {
    let qos = (flags >> 1) & 0b11;
    if qos == 3 {
        return Err(DecodeError::InvalidQoS(qos));
    }
    // DUP on a QoS 0 message is meaningless; 3.1.1 [MQTT-3.3.1-2] lets us refuse it.
    if qos == 0 && flags & 0b1000 != 0 {
        return Err(DecodeError::InvalidFlags {
            packet_type: kind::PUBLISH,
            flags,
        });
    }
    Ok(())
}
