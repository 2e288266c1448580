//! Fuzzes the MQTT decoder with arbitrary peer bytes.
//!
//! The decoder faces hostile devices directly, so beyond "never panics" this
//! checks that every packet it accepts re-encodes and decodes back to itself:
//! a decoder that accepts something the encoder cannot reproduce is a bug.

#![no_main]

use bytes::BytesMut;
use ferrohub_mqtt::{Limits, decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let mut buf = BytesMut::from(data);
    // Each decoded packet consumes at least two bytes, so this terminates.
    while let Ok(Some(packet)) = decode(&mut buf, &limits) {
        let mut wire = BytesMut::new();
        if let Err(e) = encode(&packet, &mut wire) {
            panic!("decoded packet does not encode: {e}: {packet:?}");
        }
        assert_eq!(wire.len(), packet.encoded_len(), "{packet:?}");
        match decode(&mut wire, &limits) {
            Ok(Some(again)) => assert_eq!(again, packet),
            other => panic!("re-encoded packet does not decode: {other:?}: {packet:?}"),
        }
        assert!(wire.is_empty(), "re-encoded packet left bytes behind");
    }
});
