//! Per-connection decode limits.
//!
//! A peer declares a packet's size before sending it; without a cap a single
//! four-byte header could make us buffer 256 MiB. The limit is checked on the
//! declared size, before any of the body has arrived.

/// Bounds applied while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest remaining length (everything after the fixed header) accepted.
    pub max_packet_size: usize,
}

impl Default for Limits {
    /// IoT Hub caps device-to-cloud messages at 256 KiB; the extra KiB leaves
    /// room for the topic name, packet id and length prefixes around it.
    fn default() -> Self {
        Self {
            max_packet_size: 256 * 1024 + 1024,
        }
    }
}
