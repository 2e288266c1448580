//! Cloud-to-device messages: a durable per-device queue with IoT Hub's rules.
//!
//! At most 50 pending messages per device (the 51st is 403004), 64 KB each, TTL 1 hour by
//! default and at most 48 hours, at most 10 deliveries by default. A message stays queued
//! until the device's PUBACK completes it, so an unacknowledged one is delivered again after
//! a reconnect (with DUP set); an expired or over-delivered one is dead-lettered and, when
//! `iothub-ack` asks for it, leaves a feedback record.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use ferrohub_protocol::property_bag::encode;
use ferrohub_protocol::session::HubEvent;
use ferrohub_protocol::{DeviceId, HubName, Identity};
use ferrohub_store::{C2dMessage, FeedbackBatch, FeedbackRecord, StoreError};
use time::OffsetDateTime;

use crate::clock::format_time;
use crate::error::HubError;
use crate::hub::Hub;

pub const DEFAULT_MAX_QUEUE_DEPTH: usize = 50;
pub const MAX_C2D_SIZE: usize = 64 * 1024;
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
pub const MAX_TTL: Duration = Duration::from_secs(48 * 3600);
pub const DEFAULT_MAX_DELIVERY_COUNT: u32 = 10;
/// How long a received feedback batch stays locked before another receive may take it.
pub const FEEDBACK_LOCK: Duration = Duration::from_secs(60);
/// Most feedback records one receive returns.
pub const FEEDBACK_BATCH: usize = 100;

/// `iothub-ack`: which outcomes produce feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    None,
    Positive,
    Negative,
    Full,
}

impl Ack {
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "none" => Some(Self::None),
            "positive" => Some(Self::Positive),
            "negative" => Some(Self::Negative),
            "full" => Some(Self::Full),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Positive => "positive",
            Self::Negative => "negative",
            Self::Full => "full",
        }
    }
}

/// A message as a back end sends it.
#[derive(Debug, Clone)]
pub struct C2dSend {
    pub body: Bytes,
    pub properties: Vec<(String, String)>,
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub user_id: Option<String>,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub ack: Ack,
    pub ttl: Option<Duration>,
}

/// One delivery ready for the device's connection.
#[derive(Debug, Clone)]
pub struct C2dDelivery {
    pub lock_token: String,
    pub topic: String,
    pub body: Bytes,
    /// Delivered before (the device may have seen it): PUBLISH with DUP.
    pub redelivery: bool,
}

fn millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl Hub {
    /// Queues a message; resolves once it is durable. Returns its message id.
    pub async fn send_c2d(
        &self,
        hub: &HubName,
        device: &DeviceId,
        msg: C2dSend,
    ) -> Result<String, HubError> {
        let size = msg.body.len()
            + msg
                .properties
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        if size > MAX_C2D_SIZE {
            return Err(HubError::MessageTooLarge {
                limit: MAX_C2D_SIZE,
            });
        }
        let ttl = msg.ttl.unwrap_or(DEFAULT_TTL);
        if ttl.is_zero() || ttl > MAX_TTL {
            return Err(HubError::InvalidArgument(
                "The time to live must be between 1 second and 48 hours".into(),
            ));
        }
        let now = self.now();
        let message_id = msg
            .message_id
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let record = C2dMessage {
            hub: hub.clone(),
            device: device.clone(),
            lock_token: uuid::Uuid::new_v4().to_string(),
            message_id: message_id.clone(),
            correlation_id: msg.correlation_id,
            user_id: msg.user_id,
            content_type: msg.content_type,
            content_encoding: msg.content_encoding,
            ack: msg.ack.as_str().to_owned(),
            enqueued_ms: millis(now),
            expiry_ms: millis(now)
                .saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
            delivery_count: 0,
            max_delivery_count: DEFAULT_MAX_DELIVERY_COUNT,
            properties: msg.properties,
            body: msg.body.to_vec(),
        };
        match self
            .store()
            .enqueue_c2d(record, DEFAULT_MAX_QUEUE_DEPTH)
            .await
        {
            Ok(()) => {}
            Err(StoreError::QueueFull) => {
                return Err(HubError::QueueFull(
                    device.to_string(),
                    DEFAULT_MAX_QUEUE_DEPTH,
                ));
            }
            Err(StoreError::NotFound) => return Err(HubError::DeviceNotFound(device.to_string())),
            Err(e) => return Err(e.into()),
        }
        // Wake the device's connection, if any; a full event queue only delays delivery to
        // the connection's next pull.
        self.presence().send(
            hub,
            &Identity::device(device.clone()),
            HubEvent::CloudToDeviceAvailable,
        );
        Ok(message_id)
    }

    /// The next deliverable message not already in flight on this connection. Expired and
    /// over-delivered messages met on the way are dead-lettered. The delivery is counted
    /// durably before it is returned.
    pub async fn next_c2d(
        &self,
        hub: &HubName,
        device: &DeviceId,
        in_flight: &HashSet<String>,
    ) -> Result<Option<C2dDelivery>, HubError> {
        let queue = self
            .store()
            .peek_c2d(hub.clone(), device.clone(), DEFAULT_MAX_QUEUE_DEPTH)
            .await?;
        let now = millis(self.now());
        for message in queue {
            if in_flight.contains(&message.lock_token) {
                continue;
            }
            if message.expiry_ms <= now {
                self.dead_letter(message, "Expired").await?;
                continue;
            }
            if message.delivery_count >= message.max_delivery_count {
                self.dead_letter(message, "DeliveryCountExceeded").await?;
                continue;
            }
            let count = message.delivery_count + 1;
            self.store()
                .set_c2d_delivery_count(
                    hub.clone(),
                    device.clone(),
                    message.lock_token.clone(),
                    count,
                )
                .await?;
            return Ok(Some(C2dDelivery {
                topic: devicebound_topic(&message),
                lock_token: message.lock_token,
                body: Bytes::from(message.body),
                redelivery: message.delivery_count > 0,
            }));
        }
        Ok(None)
    }

    /// The device's PUBACK: the message is done.
    pub async fn complete_c2d(
        &self,
        hub: &HubName,
        device: &DeviceId,
        lock_token: &str,
    ) -> Result<(), HubError> {
        if let Some(message) = self
            .store()
            .remove_c2d(hub.clone(), device.clone(), lock_token.to_owned())
            .await?
            && matches!(Ack::parse(&message.ack), Some(Ack::Positive | Ack::Full))
        {
            self.add_feedback(&message, "Success").await?;
        }
        Ok(())
    }

    /// `DELETE /devices/{id}/commands`.
    pub async fn purge_c2d(&self, hub: &HubName, device: &DeviceId) -> Result<u64, HubError> {
        self.get_identity(hub, &Identity::device(device.clone()))
            .await?;
        Ok(self.store().purge_c2d(hub.clone(), device.clone()).await?)
    }

    pub async fn c2d_queue_depth(&self, hub: &HubName, device: &DeviceId) -> Result<u64, HubError> {
        Ok(self.store().count_c2d(hub.clone(), device.clone()).await?)
    }

    pub async fn receive_feedback(&self, hub: &HubName) -> Result<Option<FeedbackBatch>, HubError> {
        let lock = i64::try_from(FEEDBACK_LOCK.as_millis()).unwrap_or(i64::MAX);
        Ok(self
            .store()
            .lock_feedback(hub.clone(), millis(self.now()), lock, FEEDBACK_BATCH)
            .await?)
    }

    pub async fn complete_feedback(
        &self,
        hub: &HubName,
        lock_token: &str,
    ) -> Result<bool, HubError> {
        Ok(self
            .store()
            .complete_feedback(hub.clone(), lock_token.to_owned(), millis(self.now()))
            .await?)
    }

    pub async fn abandon_feedback(
        &self,
        hub: &HubName,
        lock_token: &str,
    ) -> Result<bool, HubError> {
        Ok(self
            .store()
            .abandon_feedback(hub.clone(), lock_token.to_owned())
            .await?)
    }

    async fn dead_letter(&self, message: C2dMessage, reason: &str) -> Result<(), HubError> {
        let removed = self
            .store()
            .remove_c2d(
                message.hub.clone(),
                message.device.clone(),
                message.lock_token.clone(),
            )
            .await?;
        if removed.is_some() && matches!(Ack::parse(&message.ack), Some(Ack::Negative | Ack::Full))
        {
            self.add_feedback(&message, reason).await?;
        }
        Ok(())
    }

    async fn add_feedback(&self, message: &C2dMessage, status: &str) -> Result<(), HubError> {
        let generation = self
            .store()
            .get_identity(
                message.hub.clone(),
                Identity::device(message.device.clone()),
            )
            .await?
            .map(|r| r.generation_id)
            .unwrap_or_default();
        let enqueued =
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(message.enqueued_ms) * 1_000_000)
                .map(format_time)
                .unwrap_or_default();
        let record = FeedbackRecord {
            original_message_id: message.message_id.clone(),
            device_id: message.device.to_string(),
            device_generation_id: generation,
            status_code: status.to_owned(),
            description: status.to_owned(),
            enqueued_time_utc: enqueued,
        };
        Ok(self
            .store()
            .add_feedback(message.hub.clone(), vec![record])
            .await?)
    }
}

/// `devices/{id}/messages/devicebound/{bag}` with IoT Hub's system properties (`%24.`-encoded
/// keys, `iothub-ack` always present) then the application properties.
fn devicebound_topic(m: &C2dMessage) -> String {
    let to = format!("/devices/{}/messages/devicebound", m.device);
    let expiry = OffsetDateTime::from_unix_timestamp_nanos(i128::from(m.expiry_ms) * 1_000_000)
        .map(format_time)
        .unwrap_or_default();
    let mut pairs: Vec<(&str, &str)> = vec![("$.mid", &m.message_id), ("$.to", &to)];
    for (key, value) in [
        ("$.cid", &m.correlation_id),
        ("$.uid", &m.user_id),
        ("$.ct", &m.content_type),
        ("$.ce", &m.content_encoding),
    ] {
        if let Some(v) = value {
            pairs.push((key, v));
        }
    }
    pairs.push(("$.exp", &expiry));
    pairs.push(("iothub-ack", &m.ack));
    for (k, v) in &m.properties {
        pairs.push((k, v));
    }
    format!(
        "devices/{}/messages/devicebound/{}",
        m.device,
        encode(pairs)
    )
}
