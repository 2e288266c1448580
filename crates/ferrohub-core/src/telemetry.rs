//! Telemetry ingest: stamp a device's message with the identity the hub authenticated, and
//! append it to that hub's log. The returned future resolves only when the record is durable,
//! which is what lets the gateway send the PUBACK.

use std::future::Future;
use std::sync::Arc;

pub use ferrohub_log::{AppendFuture, AppendReceipt};
use ferrohub_log::{EventData, TelemetryLog};
use ferrohub_protocol::telemetry::{MessageKind, TelemetryMessage};

use crate::device_auth::AuthenticatedDevice;
use crate::error::HubError;
use crate::hub::Hub;

/// IoT Hub's device-to-cloud limit: 256 KB of body and properties.
pub const MAX_MESSAGE_SIZE: usize = 256 * 1024;

/// Everything a connection needs to append its device's messages, computed once at CONNECT:
/// the hub's log, the device's partition, and the identity properties the hub stamps (so no
/// message pays for formatting them or for a lookup).
#[derive(Clone)]
pub struct TelemetrySink {
    log: Arc<dyn TelemetryLog>,
    partition: u32,
    /// Shared by every message of the connection (stored without copying per message).
    stamp: std::sync::Arc<[(String, String)]>,
}

impl Hub {
    /// The sink for an authenticated device's telemetry.
    pub fn telemetry_sink(&self, device: &AuthenticatedDevice) -> Result<TelemetrySink, HubError> {
        let log = self.log_for(&device.hub)?;
        let partition = log.partition_for(device.identity.device_id.as_str());
        // Invariant 6: identity comes from authentication, never from the packet.
        let mut stamp = vec![(
            "iothub-connection-device-id".to_owned(),
            device.identity.device_id.to_string(),
        )];
        if let Some(m) = &device.identity.module_id {
            stamp.push(("iothub-connection-module-id".to_owned(), m.to_string()));
        }
        stamp.push((
            "iothub-connection-auth-method".to_owned(),
            device.auth_method_json(),
        ));
        stamp.push((
            "iothub-connection-auth-generation-id".to_owned(),
            device.generation_id.clone(),
        ));
        stamp.push(("iothub-message-source".to_owned(), "Telemetry".to_owned()));
        Ok(TelemetrySink {
            log,
            partition,
            stamp: stamp.into(),
        })
    }

    /// Stamps and appends one message (see [`TelemetrySink::ingest`]).
    pub fn ingest_telemetry(
        &self,
        device: &AuthenticatedDevice,
        message: TelemetryMessage,
    ) -> Result<impl Future<Output = Result<AppendReceipt, HubError>> + Send + 'static, HubError>
    {
        self.presence()
            .note_activity(&device.hub, &device.identity, self.now());
        let append = self.telemetry_sink(device)?.ingest(message)?;
        Ok(async move { Ok(append.await?) })
    }
}

impl TelemetrySink {
    /// Stamps and appends one message. Errors before the append (too large) come back at
    /// once; the returned future resolves when the record is durable (a named future, not a
    /// boxed one: this runs for every message).
    pub fn ingest(&self, message: TelemetryMessage) -> Result<AppendFuture, HubError> {
        let size = message.body.len()
            + message
                .properties
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
            + message
                .system_properties
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        if size > MAX_MESSAGE_SIZE {
            return Err(HubError::MessageTooLarge {
                limit: MAX_MESSAGE_SIZE,
            });
        }
        let mut properties = message.properties;
        if message.kind == MessageKind::Will {
            properties.push(("iothub-MessageType".to_owned(), "Will".to_owned()));
        }
        let system_properties: Vec<(String, String)> = message
            .system_properties
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let event = EventData {
            body: message.body,
            properties,
            system_properties,
            shared_system_properties: Some(std::sync::Arc::clone(&self.stamp)),
        };
        Ok(self.log.append(self.partition, event))
    }
}
