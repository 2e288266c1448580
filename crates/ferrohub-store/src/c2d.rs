//! Cloud-to-device messages waiting in a device's queue, and the feedback records their
//! completion, expiry or dead-lettering produce.

use ferrohub_protocol::ids::{DeviceId, HubName};
use serde::{Deserialize, Serialize};

/// One queued cloud-to-device message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct C2dMessage {
    pub hub: HubName,
    pub device: DeviceId,
    /// Unique per message; identifies it for completion (IoT Hub's lock token).
    pub lock_token: String,
    pub message_id: String,
    pub correlation_id: Option<String>,
    pub user_id: Option<String>,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    /// `none`, `positive`, `negative` or `full` (the `iothub-ack` property).
    pub ack: String,
    /// Unix milliseconds.
    pub enqueued_ms: i64,
    /// Unix milliseconds after which the message is dead-lettered instead of delivered.
    pub expiry_ms: i64,
    pub delivery_count: u32,
    pub max_delivery_count: u32,
    pub properties: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// One feedback record, as `GET /messages/serviceBound/feedback` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackRecord {
    pub original_message_id: String,
    pub device_id: String,
    pub device_generation_id: String,
    /// `Success`, `Expired`, `DeliveryCountExceeded`, `Rejected` or `Purged`.
    pub status_code: String,
    pub description: String,
    /// RFC 3339.
    pub enqueued_time_utc: String,
}

/// A locked batch of feedback records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackBatch {
    pub lock_token: String,
    pub records: Vec<FeedbackRecord>,
}
