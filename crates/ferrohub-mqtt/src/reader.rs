//! Bounds-checked cursor over one packet body.
//!
//! The body is already cut to the declared remaining length, so every read
//! here that runs out of bytes means an inner length lied about the frame:
//! that is `MalformedPacket`, never "need more data", and never a panic.

use bytes::{Buf, Bytes};

use crate::DecodeError;

pub(crate) struct Reader {
    body: Bytes,
}

impl Reader {
    pub(crate) fn new(body: Bytes) -> Self {
        Self { body }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.body.len()
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        if self.body.is_empty() {
            return Err(DecodeError::MalformedPacket(what));
        }
        Ok(self.body.get_u8())
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        if self.body.len() < 2 {
            return Err(DecodeError::MalformedPacket(what));
        }
        Ok(self.body.get_u16())
    }

    /// Non-zero packet identifier; 0 is reserved by the spec.
    pub(crate) fn packet_id(&mut self) -> Result<u16, DecodeError> {
        match self.u16("packet identifier truncated")? {
            0 => Err(DecodeError::ZeroPacketId),
            id => Ok(id),
        }
    }

    /// Length-prefixed binary data, as a zero-copy slice of the frame.
    pub(crate) fn binary(&mut self, what: &'static str) -> Result<Bytes, DecodeError> {
        let len = usize::from(self.u16(what)?);
        if self.body.len() < len {
            return Err(DecodeError::MalformedPacket(what));
        }
        Ok(self.body.split_to(len))
    }

    /// Length-prefixed MQTT UTF-8 string: valid UTF-8 (which in Rust already
    /// excludes surrogates) and no U+0000.
    pub(crate) fn string(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let raw = self.binary(what)?;
        let text = std::str::from_utf8(&raw).map_err(|_| DecodeError::InvalidUtf8)?;
        if text.contains('\0') {
            return Err(DecodeError::NullCharacter);
        }
        Ok(text.to_owned())
    }

    /// Everything left, zero-copy (the PUBLISH payload).
    pub(crate) fn rest(self) -> Bytes {
        self.body
    }

    /// Fails if any bytes remain where the packet layout ends.
    pub(crate) fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        if self.body.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::MalformedPacket(what))
        }
    }
}
