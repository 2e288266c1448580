//! Record builders and assertion helpers shared by the conformance checks.

use std::fmt::Debug;

use ferrohub_protocol::ids::{DeviceId, HubName, Identity, ModuleId};

use crate::c2d::{C2dMessage, FeedbackRecord};
use crate::error::StoreError;
use crate::identity::{AuthenticationType, DeviceAuthentication, DeviceRecord, DeviceStatus};
use crate::session::PersistentSession;
use crate::twin::TwinRecord;

/// A hub name; panics on an invalid one (fixtures use literals).
pub fn hub_name(name: &str) -> HubName {
    HubName::new(name).unwrap_or_else(|e| panic!("fixture hub name {name:?} is invalid: {e}"))
}

pub(crate) fn device_id(id: &str) -> DeviceId {
    DeviceId::new(id).unwrap_or_else(|e| panic!("fixture device id {id:?} is invalid: {e}"))
}

pub(crate) fn module_id(id: &str) -> ModuleId {
    ModuleId::new(id).unwrap_or_else(|e| panic!("fixture module id {id:?} is invalid: {e}"))
}

pub(crate) fn device_identity(device: &str) -> Identity {
    Identity::device(device_id(device))
}

pub(crate) fn module_identity(device: &str, module: &str) -> Identity {
    Identity {
        device_id: device_id(device),
        module_id: Some(module_id(module)),
    }
}

/// An enabled SAS device with etag `"e0"`.
pub fn device_record(hub: &str, device: &str) -> DeviceRecord {
    let now = "2024-01-01T00:00:00Z".to_owned();
    DeviceRecord {
        hub: hub_name(hub),
        device_id: device_id(device),
        module_id: None,
        generation_id: format!("gen-{device}"),
        etag: "e0".to_owned(),
        status: DeviceStatus::Enabled,
        status_reason: None,
        status_updated_time: now.clone(),
        authentication: DeviceAuthentication {
            kind: AuthenticationType::Sas,
            primary_key: Some("cHJpbWFyeQ==".to_owned()),
            secondary_key: Some("c2Vjb25kYXJ5".to_owned()),
            primary_thumbprint: None,
            secondary_thumbprint: None,
        },
        iot_edge: false,
        device_scope: None,
        parent_scopes: Vec::new(),
        managed_by: None,
        created_time: now.clone(),
        last_updated_time: now,
    }
}

/// A module of `device` with etag `"e0"`.
pub fn module_record(hub: &str, device: &str, module: &str) -> DeviceRecord {
    DeviceRecord {
        module_id: Some(module_id(module)),
        generation_id: format!("gen-{device}-{module}"),
        managed_by: Some("IotEdge".to_owned()),
        ..device_record(hub, device)
    }
}

pub(crate) fn session(hub: &str, identity: Identity, filters: &[&str]) -> PersistentSession {
    PersistentSession {
        hub: hub_name(hub),
        identity,
        subscriptions: filters.iter().map(|f| (*f).to_owned()).collect(),
        updated_time: "2024-01-01T00:00:00Z".to_owned(),
    }
}

/// A twin of `identity` at `version` whose document records `marker`.
pub fn twin_record(hub: &str, identity: Identity, version: u64, marker: &str) -> TwinRecord {
    TwinRecord {
        hub: hub_name(hub),
        identity,
        version,
        document: serde_json::json!({
            "properties": {
                "desired": { "marker": marker, "$version": version },
                "reported": { "n": 1.5, "list": [1, "two", null], "$version": 1 }
            },
            "tags": { "zone": "b", "area": "a" }
        }),
    }
}

/// A queued cloud-to-device message whose lock token and message id derive from `token`;
/// the body is binary (not valid UTF-8) so a backend cannot get away with storing text.
pub fn c2d_message(hub: &str, device: &str, token: &str) -> C2dMessage {
    C2dMessage {
        hub: hub_name(hub),
        device: device_id(device),
        lock_token: format!("lock-{device}-{token}"),
        message_id: format!("msg-{token}"),
        correlation_id: Some(format!("corr-{token}")),
        user_id: None,
        content_type: Some("application/octet-stream".to_owned()),
        content_encoding: None,
        ack: "full".to_owned(),
        enqueued_ms: 1_700_000_000_000,
        expiry_ms: 1_700_003_600_000,
        delivery_count: 0,
        max_delivery_count: 10,
        properties: vec![
            ("z-first".to_owned(), token.to_owned()),
            ("a-second".to_owned(), String::new()),
        ],
        body: [token.as_bytes(), &[0x00, 0xff, 0xfe, 0x80]].concat(),
    }
}

/// A feedback record for the message `message_id`.
pub fn feedback_record(message_id: &str) -> FeedbackRecord {
    FeedbackRecord {
        original_message_id: message_id.to_owned(),
        device_id: "d1".to_owned(),
        device_generation_id: "gen-d1".to_owned(),
        status_code: "Success".to_owned(),
        description: "Success".to_owned(),
        enqueued_time_utc: "2024-01-01T00:00:00Z".to_owned(),
    }
}

/// The value of a call that must succeed.
#[track_caller]
pub(crate) fn ok<T>(result: Result<T, StoreError>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what}: expected success, got {e:?}"))
}

/// Asserts that a call failed with exactly `expected`.
#[track_caller]
pub(crate) fn fails_with<T: Debug>(
    result: Result<T, StoreError>,
    expected: StoreError,
    what: &str,
) {
    match result {
        Err(e) if e == expected => {}
        other => panic!("{what}: expected Err({expected:?}), got {other:?}"),
    }
}
