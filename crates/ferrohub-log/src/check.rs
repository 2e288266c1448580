//! Checking a telemetry log directory without changing it (`ferrohub check`).
//!
//! It reads what recovery at the next open would read: each partition's segments, every
//! record's checksum, and sequence and offset continuity between segments. Damage inside a
//! sealed segment is an error. Bytes after the last whole record of a partition are a torn
//! tail: a crash leaves one, and the next open cuts it, restoring from the commit journal
//! any acknowledged records it held. So a torn tail is reported but is not damage.

use std::path::Path;

use crate::LogError;
use crate::log::{lock_dir, partition_dir, recorded_partitions};
use crate::recover::inspect_partition;

/// What one partition holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReport {
    pub partition: u32,
    pub segments: usize,
    pub records: u64,
    /// Bytes after the last whole record (cut at the next open), 0 when none.
    pub torn_tail_bytes: u64,
}

/// Checks the log in `dir`. Refuses (`LogError::DirectoryInUse`) while a server has it
/// open, since its tail is then still being written. Any damage other than a torn tail is
/// `LogError::Corrupt`, naming the file.
pub fn check(dir: &Path) -> Result<Vec<PartitionReport>, LogError> {
    let partitions = recorded_partitions(dir)?
        .ok_or_else(|| LogError::corrupt(dir, "no log.json: not a telemetry log directory"))?;
    let _lock = lock_dir(dir)?;
    (0..partitions)
        .map(|partition| {
            let inspected = inspect_partition(&partition_dir(dir, partition))?;
            Ok(PartitionReport {
                partition,
                segments: inspected.segments.len(),
                records: inspected.segments.iter().map(|s| s.records).sum(),
                torn_tail_bytes: inspected.torn_tail.map_or(0, |(bytes, _)| bytes),
            })
        })
        .collect()
}
