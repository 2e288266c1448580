//! Stable mapping from a partition key (the device id) to a partition.
//!
//! It exists because a device's messages must always land in the same partition, across
//! restarts and releases. It must never use std's randomly seeded hasher or anything
//! whose output could change between versions: FNV-1a 32 is fixed forever here.

const FNV_OFFSET_BASIS: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// FNV-1a (32-bit) of the bytes.
pub(crate) fn fnv1a_32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |hash, &b| {
        (hash ^ u32::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// The partition for `key` among `partitions`: FNV-1a 32 of the UTF-8 bytes, modulo the
/// partition count. Returns 0 when `partitions` is 0 rather than panicking.
pub fn partition_for_key(key: &str, partitions: u32) -> u32 {
    if partitions == 0 {
        return 0;
    }
    fnv1a_32(key.as_bytes()) % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        assert_eq!(fnv1a_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a_32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a_32(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn zero_partitions_maps_everything_to_partition_zero() {
        assert_eq!(partition_for_key("device-1", 0), 0);
    }
}
