//! Configuration of a `SegmentLog` and its validation.
//!
//! It exists to keep defaults and limits in one place. It must not open files.

use std::path::PathBuf;
use std::time::Duration;

use crate::LogError;

/// How the log is laid out and how long it keeps data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// Root directory; created at open.
    pub dir: PathBuf,
    /// Number of partitions (default 4). Fixed for the life of the directory.
    pub partitions: u32,
    /// A new segment starts once the active one would exceed this size (default 64 MiB).
    pub segment_max_bytes: u64,
    /// How long events are kept (default 1 day; the caller enforces the 7-day maximum).
    pub retention: Duration,
    /// fsync every batch (default true). `false` is only for benchmarks: appends then
    /// resolve before data is durable.
    pub fsync: bool,
    /// Size of the commit journal (default 16 MiB). A batch larger than what is left of it
    /// is made durable by syncing the partition files instead; each time it fills, every
    /// partition file is synced once (a checkpoint).
    pub journal_bytes: u64,
    /// Appends queued for the writer at most (default `APPEND_QUEUE_CAPACITY`); a full queue
    /// makes `append` wait, in the order the appends were issued.
    pub append_queue: usize,
}

impl LogConfig {
    pub const DEFAULT_PARTITIONS: u32 = 4;
    pub const DEFAULT_SEGMENT_MAX_BYTES: u64 = 64 * 1024 * 1024;
    pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
    /// Azure IoT Hub allows at most 128 partitions; more would only waste file handles.
    pub const DEFAULT_JOURNAL_BYTES: u64 = 16 * 1024 * 1024;
    pub const MAX_PARTITIONS: u32 = 128;

    /// Defaults for everything but the directory.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LogConfig {
            dir: dir.into(),
            partitions: Self::DEFAULT_PARTITIONS,
            segment_max_bytes: Self::DEFAULT_SEGMENT_MAX_BYTES,
            retention: Self::DEFAULT_RETENTION,
            fsync: true,
            journal_bytes: Self::DEFAULT_JOURNAL_BYTES,
            append_queue: crate::APPEND_QUEUE_CAPACITY,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), LogError> {
        if self.partitions == 0 || self.partitions > Self::MAX_PARTITIONS {
            return Err(LogError::InvalidConfig(format!(
                "partitions must be 1..={}, got {}",
                Self::MAX_PARTITIONS,
                self.partitions
            )));
        }
        if self.append_queue == 0 {
            return Err(LogError::InvalidConfig(
                "append_queue must be positive".into(),
            ));
        }
        if self.segment_max_bytes == 0 {
            return Err(LogError::InvalidConfig(
                "segment_max_bytes must be positive".into(),
            ));
        }
        Ok(())
    }

    /// Retention in millis, saturated so absurd durations cannot overflow time arithmetic.
    pub(crate) fn retention_ms(&self) -> i64 {
        i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX)
    }
}
