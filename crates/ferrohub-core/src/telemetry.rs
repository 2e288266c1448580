//! Telemetry ingest: stamp a device's message with the identity the hub authenticated, and
//! append it to that hub's log. The returned future resolves only when the record is durable,
//! which is what lets the gateway send the PUBACK.

use std::future::Future;

use ferrohub_log::{AppendReceipt, EventData};
use ferrohub_protocol::telemetry::{MessageKind, TelemetryMessage};

use crate::device_auth::AuthenticatedDevice;
use crate::error::HubError;
use crate::hub::Hub;

/// IoT Hub's device-to-cloud limit: 256 KB of body and properties.
pub const MAX_MESSAGE_SIZE: usize = 256 * 1024;

impl Hub {
    /// Stamps and appends one message. Errors before the append (too large) come back at once.
    pub fn ingest_telemetry(
        &self,
        device: &AuthenticatedDevice,
        message: TelemetryMessage,
    ) -> Result<impl Future<Output = Result<AppendReceipt, HubError>> + Send + 'static, HubError>
    {
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
        let log = self.log_for(&device.hub)?;
        let partition = log.partition_for(device.identity.device_id.as_str());
        let mut properties = message.properties;
        if message.kind == MessageKind::Will {
            properties.push(("iothub-MessageType".to_owned(), "Will".to_owned()));
        }
        let mut system_properties: Vec<(String, String)> = message
            .system_properties
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        // Invariant 6: identity comes from authentication, never from the packet.
        system_properties.push((
            "iothub-connection-device-id".into(),
            device.identity.device_id.to_string(),
        ));
        if let Some(m) = &device.identity.module_id {
            system_properties.push(("iothub-connection-module-id".into(), m.to_string()));
        }
        system_properties.push((
            "iothub-connection-auth-method".into(),
            device.auth_method_json(),
        ));
        system_properties.push((
            "iothub-connection-auth-generation-id".into(),
            device.generation_id.clone(),
        ));
        system_properties.push(("iothub-message-source".into(), "Telemetry".into()));
        self.presence()
            .note_activity(&device.hub, &device.identity, self.now());
        let event = EventData {
            body: message.body,
            properties,
            system_properties,
        };
        let append = log.append(partition, event);
        Ok(async move { Ok(append.await?) })
    }
}
