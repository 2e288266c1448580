//! The binary record format and its CRC.
//!
//! It exists so that exactly one place knows how an event is laid out on disk:
//!
//! ```text
//! len   u32 LE   number of bytes after the CRC
//! crc   u32 LE   crc32 (crc32fast) of those `len` bytes
//! body:
//!   sequence_number  u64 LE
//!   enqueued_time_ms i64 LE
//!   property count   u32 LE, then per property: key (u32 LE len + UTF-8), value (same)
//!   system prop count u32 LE, same layout
//!   event body       u32 LE len + bytes
//! ```
//!
//! It must not panic on any input read from a file: every length is checked before use,
//! and garbage decodes to a `DecodeError`, never to a wrong event.

use std::io::{self, Read};

use bytes::{Buf, Bytes};

use crate::{EventData, LogError};

/// Bytes before the body: length + CRC.
pub(crate) const RECORD_HEADER_LEN: usize = 8;

/// Largest accepted record body. IoT Hub messages are at most 256 KiB, so anything near
/// this is either a bug or garbage; the cap also bounds what a corrupt length field can
/// make a reader allocate.
pub const MAX_RECORD_BODY_LEN: usize = 16 * 1024 * 1024;

/// A decoded record.
#[derive(Debug, PartialEq)]
pub(crate) struct Record {
    pub sequence_number: u64,
    pub enqueued_time_ms: i64,
    pub data: EventData,
}

/// Why bytes did not decode as a record.
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// The file ended inside the record (a torn write).
    Truncated {
        needed: u64,
        available: u64,
    },
    /// The length field is larger than any record we write.
    TooLarge(u32),
    CrcMismatch {
        stored: u32,
        computed: u32,
    },
    /// CRC matched but the body does not parse (or violates an invariant).
    Malformed(String),
    /// The underlying read failed; not a property of the data.
    Io(io::Error),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated { needed, available } => {
                write!(
                    f,
                    "truncated record: needs {needed} bytes, {available} left"
                )
            }
            DecodeError::TooLarge(len) => write!(f, "record length {len} exceeds maximum"),
            DecodeError::CrcMismatch { stored, computed } => {
                write!(
                    f,
                    "crc mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
            DecodeError::Malformed(why) => write!(f, "malformed record: {why}"),
            DecodeError::Io(e) => write!(f, "i/o error: {e}"),
        }
    }
}

fn string_len(s: &str) -> usize {
    4 + s.len()
}

fn props_len(props: &[(String, String)]) -> usize {
    4 + props
        .iter()
        .map(|(k, v)| string_len(k) + string_len(v))
        .sum::<usize>()
}

/// Total on-disk size of `event` as a record (header included), or `EventTooLarge`.
/// Checking this before `encode_into` is what makes `encode_into` infallible.
pub(crate) fn encoded_len(event: &EventData) -> Result<usize, LogError> {
    let body_len = 8
        + 8
        + props_len(&event.properties)
        + props_len(&event.system_properties)
        + props_len(event.shared())
        - 4 // one count covers both lists
        + 4
        + event.body.len();
    if body_len > MAX_RECORD_BODY_LEN {
        return Err(LogError::EventTooLarge {
            size: body_len + RECORD_HEADER_LEN,
            max: MAX_RECORD_BODY_LEN + RECORD_HEADER_LEN,
        });
    }
    Ok(body_len + RECORD_HEADER_LEN)
}

// Lengths below are < MAX_RECORD_BODY_LEN (checked by `encoded_len`), so they fit in u32.
fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_props(out: &mut Vec<u8>, props: &[(String, String)]) {
    put_props_chain(out, props, &[]);
}

/// Two lists written as one.
fn put_props_chain(out: &mut Vec<u8>, first: &[(String, String)], then: &[(String, String)]) {
    put_len(out, first.len() + then.len());
    for (k, v) in first.iter().chain(then) {
        put_len(out, k.len());
        out.extend_from_slice(k.as_bytes());
        put_len(out, v.len());
        out.extend_from_slice(v.as_bytes());
    }
}

/// Appends the record to `out`. Callers must have checked `encoded_len` first.
pub(crate) fn encode_into(
    sequence_number: u64,
    enqueued_time_ms: i64,
    event: &EventData,
    out: &mut Vec<u8>,
) {
    let start = out.len();
    out.extend_from_slice(&[0u8; RECORD_HEADER_LEN]);
    out.extend_from_slice(&sequence_number.to_le_bytes());
    out.extend_from_slice(&enqueued_time_ms.to_le_bytes());
    put_props(out, &event.properties);
    put_props_chain(out, &event.system_properties, event.shared());
    put_len(out, event.body.len());
    out.extend_from_slice(&event.body);

    let body = &out[start + RECORD_HEADER_LEN..];
    let body_len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let crc = crc32fast::hash(body);
    out[start..start + 4].copy_from_slice(&body_len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Reads one record from `reader`, which has exactly `available` bytes left in the
/// region being read. `Ok(None)` means a clean end (no bytes left). Returns the record
/// and its total size on disk.
pub(crate) fn read_record(
    reader: &mut impl Read,
    available: u64,
) -> Result<Option<(Record, u64)>, DecodeError> {
    if available == 0 {
        return Ok(None);
    }
    if available < RECORD_HEADER_LEN as u64 {
        return Err(DecodeError::Truncated {
            needed: RECORD_HEADER_LEN as u64,
            available,
        });
    }
    let mut header = [0u8; RECORD_HEADER_LEN];
    reader.read_exact(&mut header).map_err(DecodeError::Io)?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let stored = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len as usize > MAX_RECORD_BODY_LEN {
        return Err(DecodeError::TooLarge(len));
    }
    let total = RECORD_HEADER_LEN as u64 + u64::from(len);
    if total > available {
        return Err(DecodeError::Truncated {
            needed: total,
            available,
        });
    }
    let mut body = vec![0u8; len as usize];
    reader.read_exact(&mut body).map_err(DecodeError::Io)?;
    let computed = crc32fast::hash(&body);
    if computed != stored {
        return Err(DecodeError::CrcMismatch { stored, computed });
    }
    let record = decode_body(Bytes::from(body)).map_err(DecodeError::Malformed)?;
    Ok(Some((record, total)))
}

fn take_u32(buf: &mut Bytes, what: &str) -> Result<u32, String> {
    if buf.remaining() < 4 {
        return Err(format!("{what}: unexpected end"));
    }
    Ok(buf.get_u32_le())
}

fn take_bytes(buf: &mut Bytes, what: &str) -> Result<Bytes, String> {
    let len = take_u32(buf, what)? as usize;
    if buf.remaining() < len {
        return Err(format!("{what}: length {len} beyond end"));
    }
    Ok(buf.split_to(len))
}

fn take_string(buf: &mut Bytes, what: &str) -> Result<String, String> {
    let bytes = take_bytes(buf, what)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("{what}: not UTF-8"))
}

fn take_props(buf: &mut Bytes, what: &str) -> Result<Vec<(String, String)>, String> {
    let count = take_u32(buf, what)? as usize;
    // Each property needs at least 8 bytes, so a garbage count cannot force a huge
    // allocation: cap the reservation by what the buffer could hold.
    let mut props = Vec::with_capacity(count.min(buf.remaining() / 8));
    for _ in 0..count {
        let key = take_string(buf, what)?;
        let value = take_string(buf, what)?;
        props.push((key, value));
    }
    Ok(props)
}

fn decode_body(mut buf: Bytes) -> Result<Record, String> {
    if buf.remaining() < 16 {
        return Err("header fields: unexpected end".into());
    }
    let sequence_number = buf.get_u64_le();
    let enqueued_time_ms = buf.get_i64_le();
    let properties = take_props(&mut buf, "properties")?;
    let system_properties = take_props(&mut buf, "system properties")?;
    let body = take_bytes(&mut buf, "body")?;
    if buf.has_remaining() {
        return Err(format!("{} trailing bytes", buf.remaining()));
    }
    Ok(Record {
        sequence_number,
        enqueued_time_ms,
        data: EventData {
            body,
            properties,
            system_properties,
            shared_system_properties: None,
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample() -> EventData {
        EventData {
            body: Bytes::from_static(b"{\"temp\":21.5}"),
            properties: vec![("alert".into(), "high".into()), ("ü".into(), "".into())],
            system_properties: vec![("message-id".into(), "m1".into())],
            shared_system_properties: None,
        }
    }

    fn encode(event: &EventData) -> Vec<u8> {
        let mut out = Vec::new();
        encode_into(7, 1_700_000_000_000, event, &mut out);
        out
    }

    #[test]
    fn a_record_decodes_to_what_was_encoded() {
        let bytes = encode(&sample());
        assert_eq!(bytes.len(), encoded_len(&sample()).unwrap());
        let (record, len) = read_record(&mut &bytes[..], bytes.len() as u64)
            .unwrap()
            .unwrap();
        assert_eq!(len, bytes.len() as u64);
        assert_eq!(record.sequence_number, 7);
        assert_eq!(record.enqueued_time_ms, 1_700_000_000_000);
        assert_eq!(record.data, sample());
    }

    #[test]
    fn a_flipped_byte_is_a_crc_mismatch() {
        let mut bytes = encode(&sample());
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        let err = read_record(&mut &bytes[..], bytes.len() as u64).unwrap_err();
        assert!(matches!(err, DecodeError::CrcMismatch { .. }), "{err}");
    }

    #[test]
    fn a_short_record_is_truncated_not_a_panic() {
        let bytes = encode(&sample());
        for cut in 1..bytes.len() {
            let err = read_record(&mut &bytes[..cut], cut as u64).unwrap_err();
            assert!(
                matches!(err, DecodeError::Truncated { .. }),
                "cut {cut}: {err}"
            );
        }
    }

    #[test]
    fn a_huge_length_field_is_rejected_without_allocating() {
        let bytes = [0xFFu8; 16];
        let err = read_record(&mut &bytes[..], 16).unwrap_err();
        assert!(matches!(err, DecodeError::TooLarge(_)), "{err}");
    }

    #[test]
    fn shared_system_properties_are_stored_after_the_own_ones_and_read_back_with_them() {
        let mut event = sample();
        event.shared_system_properties = Some(
            vec![
                ("iothub-connection-device-id".to_owned(), "dev1".to_owned()),
                ("iothub-message-source".to_owned(), "Telemetry".to_owned()),
            ]
            .into(),
        );
        let mut out = Vec::new();
        encode_into(7, 42, &event, &mut out);
        assert_eq!(out.len(), encoded_len(&event).unwrap());
        let (record, size) = read_record(&mut out.as_slice(), out.len() as u64)
            .unwrap()
            .unwrap();
        assert_eq!(size, out.len() as u64);
        let mut expected = event.system_properties.clone();
        expected.extend(event.shared().iter().cloned());
        assert_eq!(record.data.system_properties, expected);
        assert_eq!(record.data.properties, event.properties);
        assert_eq!(record.data.body, event.body);
    }

    #[test]
    fn an_oversized_event_is_refused_before_encoding() {
        let event = EventData {
            body: Bytes::from(vec![0u8; MAX_RECORD_BODY_LEN]),
            ..EventData::default()
        };
        assert!(matches!(
            encoded_len(&event),
            Err(LogError::EventTooLarge { .. })
        ));
    }

    #[test]
    fn garbage_with_a_valid_crc_is_malformed() {
        let body = [1u8, 2, 3];
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&3u32.to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        bytes.extend_from_slice(&body);
        let err = read_record(&mut &bytes[..], bytes.len() as u64).unwrap_err();
        assert!(matches!(err, DecodeError::Malformed(_)), "{err}");
    }
}
