//! The plain data types that cross the crate boundary: what is appended, what is read
//! back, where a read starts, and what an append returns.
//!
//! They exist so the hub and the log agree on one vocabulary. This module must not know
//! about files, encoding or concurrency.

use std::sync::Arc;

use bytes::Bytes;

/// One telemetry message as appended by the hub.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EventData {
    pub body: Bytes,
    /// Application properties, in the order the device sent them.
    pub properties: Vec<(String, String)>,
    /// System properties such as `message-id` or `iothub-connection-device-id`.
    pub system_properties: Vec<(String, String)>,
    /// System properties many events share (the identity stamp of one device connection),
    /// stored after `system_properties`: shared, so a message does not copy them. Events read
    /// back have them in `system_properties`.
    pub shared_system_properties: Option<Arc<[(String, String)]>>,
}

impl EventData {
    /// `shared_system_properties`, or none.
    pub(crate) fn shared(&self) -> &[(String, String)] {
        self.shared_system_properties.as_deref().unwrap_or(&[])
    }
}

/// An event as read back from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    pub partition: u32,
    /// Starts at 0 and grows by one per record in the partition.
    pub sequence_number: u64,
    /// Logical byte offset of the record in the partition; unique and increasing.
    pub offset: u64,
    /// Unix milliseconds stamped at append; never decreases within a partition.
    pub enqueued_time_ms: i64,
    pub data: EventData,
}

/// What a durable append resolves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendReceipt {
    pub partition: u32,
    pub sequence_number: u64,
    pub offset: u64,
    pub enqueued_time_ms: i64,
}

/// Where a read starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartPosition {
    /// The oldest retained event.
    Earliest,
    /// Only events appended from now on (a read returns nothing; tail with `watch`).
    Latest,
    /// The first event whose sequence number is `>= n`.
    SequenceNumber(u64),
    /// The first event whose enqueued time is `>= t` (unix millis).
    EnqueuedTime(i64),
}
