//! Non-telemetry events IoT Hub emits for routing, appended to the hub's telemetry log so
//! `ferrohub monitor` and any reader of the built-in endpoint see them: connection state
//! changes, identity lifecycle, and twin changes (`spec/query-languages.md` §2.5).
//!
//! An event is enqueued to the log when it is emitted, so events of one device keep their
//! order; the append completes in a background task (nothing waits on it: these events are
//! notifications, not acknowledged writes).

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use ferrohub_log::EventData;
use ferrohub_protocol::{HubName, Identity};
use serde_json::{Value, json};

use crate::clock::format_time;
use crate::hub::Hub;

/// Where an event comes from, as `iothub-message-source` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSource {
    ConnectionState,
    Lifecycle,
    TwinChange,
}

impl EventSource {
    fn source(self) -> &'static str {
        match self {
            Self::ConnectionState => "deviceConnectionStateEvents",
            Self::Lifecycle => "deviceLifecycleEvents",
            Self::TwinChange => "twinChangeEvents",
        }
    }

    fn schema(self, module: bool) -> &'static str {
        match (self, module) {
            (Self::ConnectionState, _) => "deviceConnectionStateNotification",
            (Self::Lifecycle, false) => "deviceLifecycleNotification",
            (Self::Lifecycle, true) => "moduleLifecycleNotification",
            (Self::TwinChange, _) => "twinChangeNotification",
        }
    }
}

/// Orders connection-state events: a hex string whose string order is event order, seeded
/// from the clock so it keeps increasing across restarts.
#[derive(Debug)]
pub struct EventSequence(AtomicU64);

impl Default for EventSequence {
    fn default() -> Self {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        Self(AtomicU64::new(micros))
    }
}

impl Hub {
    /// Appends one event for `identity`. `op_type` is IoT Hub's (`deviceConnected`,
    /// `createDeviceIdentity`, `updateTwin`, ...).
    pub fn emit_event(
        &self,
        hub: &HubName,
        identity: &Identity,
        source: EventSource,
        op_type: &str,
        body: Value,
    ) {
        let Ok(log) = self.log_for(hub) else {
            return;
        };
        let module = identity.module_id.is_some();
        let now = format_time(self.now());
        let mut properties = vec![
            ("hubName".to_owned(), hub.to_string()),
            ("deviceId".to_owned(), identity.device_id.to_string()),
        ];
        if let Some(m) = &identity.module_id {
            properties.push(("moduleId".to_owned(), m.to_string()));
        }
        properties.push(("operationTimestamp".to_owned(), now));
        properties.push((
            "iothub-message-schema".to_owned(),
            source.schema(module).to_owned(),
        ));
        properties.push(("opType".to_owned(), op_type.to_owned()));
        let mut system = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("content-encoding".to_owned(), "utf-8".to_owned()),
            (
                "correlation-id".to_owned(),
                uuid::Uuid::new_v4().simple().to_string(),
            ),
            ("user-id".to_owned(), hub.to_string()),
            (
                "iothub-connection-device-id".to_owned(),
                identity.device_id.to_string(),
            ),
        ];
        if let Some(m) = &identity.module_id {
            system.push(("iothub-connection-module-id".to_owned(), m.to_string()));
        }
        system.push((
            "iothub-message-source".to_owned(),
            source.source().to_owned(),
        ));
        let event = EventData {
            body: Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
            properties,
            system_properties: system,
            shared_system_properties: None,
        };
        let append = log.append(log.partition_for(identity.device_id.as_str()), event);
        tokio::spawn(async move {
            if let Err(e) = append.await {
                tracing::warn!(error = %e, "could not append an IoT Hub event");
            }
        });
    }

    /// `deviceConnected` / `moduleConnected` (or the disconnected forms).
    pub fn emit_connection_event(&self, hub: &HubName, identity: &Identity, connected: bool) {
        let op = match (identity.module_id.is_some(), connected) {
            (false, true) => "deviceConnected",
            (false, false) => "deviceDisconnected",
            (true, true) => "moduleConnected",
            (true, false) => "moduleDisconnected",
        };
        let sequence = self.event_sequence().0.fetch_add(1, Ordering::Relaxed);
        let body = json!({ "sequenceNumber": format!("{sequence:016x}") });
        self.emit_event(hub, identity, EventSource::ConnectionState, op, body);
    }
}

impl Hub {
    /// Takes the identity for a new connection (kicking an older one) and records
    /// `deviceConnected` when it was offline before.
    pub fn connect_identity(
        &self,
        hub: &HubName,
        identity: &Identity,
        by_sas: bool,
    ) -> (
        crate::presence::ConnectionLease,
        crate::mailbox::EventReceiver,
    ) {
        self.presence()
            .register_then(hub, identity, by_sas, self.now(), |took_over| {
                if !took_over {
                    self.emit_connection_event(hub, identity, true);
                }
            })
    }

    /// Gives the identity back and records `deviceDisconnected` when it went offline.
    pub fn disconnect_identity(&self, lease: &crate::presence::ConnectionLease) {
        self.presence().release_then(lease, self.now(), || {
            self.emit_connection_event(&lease.hub, &lease.identity, false);
        });
    }

    /// Ends the connections of a device (all its modules when `module` is `None`) or one
    /// module, recording each disconnection.
    pub fn revoke_identity(
        &self,
        hub: &HubName,
        device: &ferrohub_protocol::DeviceId,
        module: Option<&Identity>,
    ) {
        self.presence()
            .revoke_then(hub, device, module, self.now(), |identity| {
                self.emit_connection_event(hub, identity, false);
            });
    }
}
