//! Random symmetric keys, etags and generation ids.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::rand::{SecureRandom, SystemRandom};

/// A new 256-bit key, base64 encoded, as IoT Hub generates them.
pub fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    // SystemRandom only fails when the OS has no entropy source; a zero key would be a
    // silent security hole, so fall back to a UUID-derived key rather than zeros.
    if SystemRandom::new().fill(&mut bytes).is_err() {
        bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    BASE64.encode(bytes)
}

/// True when `key` is base64 of 16 to 64 bytes (IoT Hub's accepted key lengths).
pub fn is_valid_key(key: &str) -> bool {
    BASE64
        .decode(key.as_bytes())
        .is_ok_and(|k| (16..=64).contains(&k.len()))
}

/// A fresh opaque etag (base64 of random bytes, like IoT Hub's `MTIzNDU2Nzg=`).
pub fn new_etag() -> String {
    BASE64.encode(&uuid::Uuid::new_v4().as_bytes()[..8])
}

/// A generation id: distinguishes a device from an earlier one with the same id.
pub fn new_generation_id() -> String {
    let n = uuid::Uuid::new_v4().as_u128() % 1_000_000_000_000_000_000;
    format!("{n:018}")
}
