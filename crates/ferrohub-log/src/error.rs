//! The single error type of the crate.
//!
//! It exists so callers (the hub) can match on the failure kind. It must not carry
//! behaviour or hide I/O errors behind strings where the original error is available.

use std::path::PathBuf;

/// Everything that can go wrong in the telemetry log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("telemetry log i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// Data that was once durable no longer decodes (not a torn tail, which recovery repairs).
    #[error("telemetry log corrupt at {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("unknown partition {0}")]
    UnknownPartition(u32),
    #[error("unknown consumer group {0:?}")]
    UnknownConsumerGroup(String),
    #[error("consumer group {0:?} already exists")]
    ConsumerGroupExists(String),
    #[error("invalid consumer group name {0:?} (1-50 characters of A-Z a-z 0-9 . _ -)")]
    InvalidConsumerGroupName(String),
    /// `$Default` always exists and cannot be deleted.
    #[error("consumer group {0:?} cannot be deleted")]
    ConsumerGroupProtected(String),
    /// The log was shut down (or its writer stopped); no more appends are accepted.
    #[error("telemetry log is closed")]
    Closed,
    #[error("event too large: {size} bytes encoded, maximum is {max}")]
    EventTooLarge { size: usize, max: usize },
    #[error("invalid telemetry log configuration: {0}")]
    InvalidConfig(String),
    #[error("telemetry log on disk has {on_disk} partitions but {configured} are configured")]
    PartitionCountMismatch { on_disk: u32, configured: u32 },
    #[error("telemetry log directory {0} is in use by another process")]
    DirectoryInUse(PathBuf),
}

impl LogError {
    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        LogError::Corrupt {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
