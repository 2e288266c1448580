//! IoT Hub's JSON shapes for device and module identities, in and out.
//!
//! Incoming bodies are read leniently (the SDKs send read-only fields such as
//! `connectionState` back, and empty strings for keys they want generated). Outgoing bodies
//! carry every field the SDKs' models have, with IoT Hub's spellings.

use ferrohub_core::clock::{NEVER, format_time};
use ferrohub_core::presence::ConnectionState;
use ferrohub_core::registry::IdentitySpec;
use ferrohub_store::{AuthenticationType, DeviceAuthentication, DeviceRecord, DeviceStatus};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SymmetricKeyBody {
    pub primary_key: Option<String>,
    pub secondary_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThumbprintBody {
    pub primary_thumbprint: Option<String>,
    pub secondary_thumbprint: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationBody {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub symmetric_key: Option<SymmetricKeyBody>,
    pub x509_thumbprint: Option<ThumbprintBody>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilitiesBody {
    pub iot_edge: Option<bool>,
}

/// A device or module as PUT by a service SDK.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityBody {
    pub device_id: Option<String>,
    pub module_id: Option<String>,
    pub status: Option<String>,
    pub status_reason: Option<String>,
    pub authentication: Option<AuthenticationBody>,
    pub capabilities: Option<CapabilitiesBody>,
    pub device_scope: Option<String>,
    pub parent_scopes: Option<Vec<String>>,
    pub managed_by: Option<String>,
}

impl IdentityBody {
    pub fn into_spec(self) -> Result<IdentitySpec, ApiError> {
        let status = match self
            .status
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("enabled") => DeviceStatus::Enabled,
            Some("disabled") => DeviceStatus::Disabled,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "The status {other:?} is not enabled or disabled"
                )));
            }
        };
        let auth = self.authentication.unwrap_or_default();
        let kind = match auth.kind.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("sas") => AuthenticationType::Sas,
            Some("selfsigned") => AuthenticationType::SelfSigned,
            Some("certificateauthority") => AuthenticationType::CertificateAuthority,
            Some("none") => AuthenticationType::None,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "The authentication type {other:?} is not known"
                )));
            }
        };
        let keys = auth.symmetric_key.unwrap_or_default();
        let thumbs = auth.x509_thumbprint.unwrap_or_default();
        Ok(IdentitySpec {
            status,
            status_reason: self.status_reason,
            authentication: DeviceAuthentication {
                kind,
                primary_key: keys.primary_key,
                secondary_key: keys.secondary_key,
                primary_thumbprint: thumbs.primary_thumbprint,
                secondary_thumbprint: thumbs.secondary_thumbprint,
            },
            iot_edge: self.capabilities.and_then(|c| c.iot_edge).unwrap_or(false),
            device_scope: self.device_scope,
            parent_scopes: self.parent_scopes.unwrap_or_default(),
            managed_by: self.managed_by,
        })
    }
}

fn authentication_json(auth: &DeviceAuthentication) -> Value {
    let kind = match auth.kind {
        AuthenticationType::Sas => "sas",
        AuthenticationType::SelfSigned => "selfSigned",
        AuthenticationType::CertificateAuthority => "certificateAuthority",
        AuthenticationType::None => "none",
    };
    json!({
        "symmetricKey": { "primaryKey": auth.primary_key, "secondaryKey": auth.secondary_key },
        "x509Thumbprint": { "primaryThumbprint": auth.primary_thumbprint, "secondaryThumbprint": auth.secondary_thumbprint },
        "type": kind,
    })
}

/// The device JSON IoT Hub returns.
pub fn device_json(record: &DeviceRecord, state: Option<ConnectionState>) -> Value {
    let (connection, updated, activity) = connection_fields(state);
    json!({
        "deviceId": record.device_id,
        "generationId": record.generation_id,
        "etag": record.etag,
        "connectionState": connection,
        "status": record.status,
        "statusReason": record.status_reason,
        "connectionStateUpdatedTime": updated,
        "statusUpdatedTime": record.status_updated_time,
        "lastActivityTime": activity,
        "cloudToDeviceMessageCount": 0,
        "authentication": authentication_json(&record.authentication),
        "capabilities": { "iotEdge": record.iot_edge },
        "deviceScope": record.device_scope,
        "parentScopes": record.parent_scopes,
    })
}

/// The module JSON IoT Hub returns.
pub fn module_json(record: &DeviceRecord, state: Option<ConnectionState>) -> Value {
    let (connection, updated, activity) = connection_fields(state);
    json!({
        "moduleId": record.module_id,
        "managedBy": record.managed_by,
        "deviceId": record.device_id,
        "generationId": record.generation_id,
        "etag": record.etag,
        "connectionState": connection,
        "connectionStateUpdatedTime": updated,
        "lastActivityTime": activity,
        "cloudToDeviceMessageCount": 0,
        "authentication": authentication_json(&record.authentication),
    })
}

fn connection_fields(state: Option<ConnectionState>) -> (&'static str, String, String) {
    match state {
        Some(s) => (
            if s.connected {
                "Connected"
            } else {
                "Disconnected"
            },
            format_time(s.updated),
            s.last_activity
                .map_or_else(|| NEVER.to_owned(), format_time),
        ),
        None => ("Disconnected", NEVER.to_owned(), NEVER.to_owned()),
    }
}
