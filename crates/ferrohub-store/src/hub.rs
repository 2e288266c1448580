//! Records describing a hosted hub (tenant) and its shared access policies.

use ferrohub_protocol::ids::HubName;
use serde::{Deserialize, Serialize};

use crate::rights::Rights;

/// One hosted hub; its host name routes incoming connections to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubRecord {
    pub name: HubName,
    pub hostname: String,
    /// RFC 3339.
    pub created_time: String,
    /// IoT Hub's `disableDeviceSAS`: device identities may not connect with SAS tokens (their
    /// own keys or a policy's); X.509 still works. Modules are not affected, as in IoT Hub.
    #[serde(default)]
    pub disable_device_sas: bool,
    /// IoT Hub's `disableModuleSAS`: module identities may not connect with SAS tokens.
    #[serde(default)]
    pub disable_module_sas: bool,
}

/// A hub-level shared access policy (`iothubowner`, `service`, ...), keyed by (hub, name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedAccessPolicy {
    pub hub: HubName,
    /// The policy's `keyName`.
    pub name: String,
    pub primary_key: String,
    pub secondary_key: String,
    pub rights: Rights,
}
