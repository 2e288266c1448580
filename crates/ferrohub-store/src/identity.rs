//! The identity registry's record: one per device and one per module.

use ferrohub_protocol::ids::{DeviceId, HubName, Identity, ModuleId};
use serde::{Deserialize, Serialize};

/// Whether a device may connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceStatus {
    Enabled,
    Disabled,
}

/// How a device proves who it is; spelled as IoT Hub's registry API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AuthenticationType {
    Sas,
    SelfSigned,
    CertificateAuthority,
    None,
}

/// Credentials; which fields are set depends on `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAuthentication {
    pub kind: AuthenticationType,
    pub primary_key: Option<String>,
    pub secondary_key: Option<String>,
    pub primary_thumbprint: Option<String>,
    pub secondary_thumbprint: Option<String>,
}

/// A device (`module_id == None`) or a module of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub hub: HubName,
    pub device_id: DeviceId,
    pub module_id: Option<ModuleId>,
    pub generation_id: String,
    /// Set by the caller on every write; the store only compares it.
    pub etag: String,
    pub status: DeviceStatus,
    pub status_reason: Option<String>,
    /// RFC 3339.
    pub status_updated_time: String,
    pub authentication: DeviceAuthentication,
    pub iot_edge: bool,
    pub device_scope: Option<String>,
    pub parent_scopes: Vec<String>,
    pub managed_by: Option<String>,
    /// RFC 3339.
    pub created_time: String,
    /// RFC 3339.
    pub last_updated_time: String,
}

impl DeviceRecord {
    /// The device or module this record describes.
    pub fn identity(&self) -> Identity {
        Identity {
            device_id: self.device_id.clone(),
            module_id: self.module_id.clone(),
        }
    }
}

/// Registry statistics for one hub (devices only, not modules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeviceCounts {
    pub total: u64,
    pub enabled: u64,
    pub disabled: u64,
}
