//! Property tests over hostile input: arbitrary bytes, random bodies behind
//! plausible headers and single-byte corruptions of valid packets must never
//! panic, and anything that does decode must re-encode to the same packet
//! (the same invariant the `mqtt_decode_roundtrip` fuzz target checks).

use bytes::BytesMut;
use ferrohub_mqtt::{Limits, Packet, decode, encode};
use proptest::collection::vec;
use proptest::prelude::*;

/// Decodes until the input runs dry or fails, checking each packet survives
/// a round trip through the encoder.
fn decode_everything(bytes: &[u8], limits: &Limits) -> Result<(), TestCaseError> {
    let mut buf = BytesMut::from(bytes);
    while let Ok(Some(packet)) = decode(&mut buf, limits) {
        reencodes_to_itself(&packet)?;
    }
    Ok(())
}

fn reencodes_to_itself(packet: &Packet) -> Result<(), TestCaseError> {
    let mut wire = BytesMut::new();
    encode(packet, &mut wire).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(wire.len(), packet.encoded_len());
    let again = decode(&mut wire, &Limits::default());
    prop_assert_eq!(again, Ok(Some(packet.clone())));
    Ok(())
}

/// Every fixed-header first byte that passes the type and flag checks.
fn plausible_first_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        Just(0x10u8),
        Just(0x20),
        (0u8..16)
            .prop_filter("valid publish flags", |f| (f >> 1) & 3 != 3
                && !(f & 0b1000 != 0 && (f >> 1) & 3 == 0))
            .prop_map(|f| 0x30 | f),
        Just(0x40),
        Just(0x50),
        Just(0x62),
        Just(0x70),
        Just(0x82),
        Just(0x90),
        Just(0xa2),
        Just(0xb0),
        Just(0xc0),
        Just(0xd0),
        Just(0xe0),
    ]
}

/// CONNECT with will, user name and password: the richest layout to corrupt.
const RICH_CONNECT: [u8; 31] = [
    0x10,
    29,
    0,
    4,
    b'M',
    b'Q',
    b'T',
    b'T',
    4,
    0b1110_1110,
    0,
    60,
    0,
    2,
    b'i',
    b'd',
    0,
    1,
    b'w',
    0,
    2,
    b'b',
    b'y',
    0,
    1,
    b'u',
    0,
    3,
    1,
    2,
    3,
];

#[test]
fn uncorrupted_rich_connect_decodes() {
    let mut buf = BytesMut::from(&RICH_CONNECT[..]);
    assert!(matches!(
        decode(&mut buf, &Limits::default()),
        Ok(Some(Packet::Connect(_)))
    ));
    assert!(buf.is_empty());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(
        bytes in vec(any::<u8>(), 0..1024),
        max in 0usize..2048,
    ) {
        decode_everything(&bytes, &Limits { max_packet_size: max })?;
    }

    #[test]
    fn random_bodies_behind_plausible_headers_never_panic(
        first in plausible_first_byte(),
        body in vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = vec![first];
        let mut len = body.len();
        loop {
            let digit = (len & 0x7f) as u8;
            len >>= 7;
            bytes.push(if len > 0 { digit | 0x80 } else { digit });
            if len == 0 {
                break;
            }
        }
        bytes.extend_from_slice(&body);
        decode_everything(&bytes, &Limits::default())?;
    }

    #[test]
    fn corrupting_one_byte_of_a_valid_connect_never_panics(
        at in any::<prop::sample::Index>(),
        value in any::<u8>(),
    ) {
        let mut bytes = RICH_CONNECT.to_vec();
        let i = at.index(bytes.len());
        bytes[i] = value;
        decode_everything(&bytes, &Limits::default())?;
    }
}
