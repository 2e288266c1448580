//! The `TelemetryLog` trait: the contract between the hub and any telemetry log.
//!
//! It exists so the hub can hold `Arc<dyn TelemetryLog>` and tests can swap
//! implementations. It must stay object-safe (no generics; futures are named types) and must
//! not contain implementation details.

use crate::{AppendFuture, EventData, LogError, StartPosition, StoredEvent};

/// A partitioned, durable, append-only event log with Event-Hubs semantics.
pub trait TelemetryLog: Send + Sync + 'static {
    fn partition_count(&self) -> u32;

    /// Stable partition for a key (device id); see [`crate::partition_for_key`].
    fn partition_for(&self, key: &str) -> u32;

    /// Resolves only when the record is durable (fsynced), in append order per partition.
    fn append(&self, partition: u32, event: EventData) -> AppendFuture;

    /// Up to `max` events from `start`. Returns fewer at the end; empty when nothing there.
    fn read(
        &self,
        partition: u32,
        start: StartPosition,
        max: usize,
    ) -> Result<Vec<StoredEvent>, LogError>;

    /// Sequence number the next append in this partition will get (0 when empty).
    fn next_sequence_number(&self, partition: u32) -> Result<u64, LogError>;

    /// A watch that changes whenever new durable records exist in the partition
    /// (value = next_sequence_number). Lets a reader tail without polling.
    fn watch(&self, partition: u32) -> Result<tokio::sync::watch::Receiver<u64>, LogError>;

    fn create_consumer_group(&self, name: &str) -> Result<(), LogError>;

    /// `$Default` cannot be deleted.
    fn delete_consumer_group(&self, name: &str) -> Result<(), LogError>;

    /// Always includes `$Default`.
    fn consumer_groups(&self) -> Result<Vec<String>, LogError>;

    /// Stored checkpoint = the next sequence number the group wants to read in that partition.
    fn checkpoint(&self, group: &str, partition: u32) -> Result<Option<u64>, LogError>;

    /// Durable (temp file + fsync + rename) before it returns.
    fn commit_checkpoint(
        &self,
        group: &str,
        partition: u32,
        next_sequence_number: u64,
    ) -> Result<(), LogError>;

    /// Delete whole segments whose newest record is older than `now_ms - retention`
    /// (never the active segment). Returns the number of segments removed.
    fn enforce_retention(&self, now_ms: i64) -> Result<usize, LogError>;
}
