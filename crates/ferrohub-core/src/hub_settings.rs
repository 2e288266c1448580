//! Per-hub settings that IoT Hub keeps on the hub resource itself, changed through our hub
//! extension: `disableDeviceSAS` and `disableModuleSAS`. (`disableLocalAuth` is not offered:
//! ferrohub has no authentication besides SAS for its service API, so it would lock the
//! owner out.)

use ferrohub_protocol::HubName;
use ferrohub_store::{HubRecord, StoreError};

use crate::error::HubError;
use crate::hub::Hub;
use crate::presence::SasScope;

/// The settings a caller changes; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubSettingsUpdate {
    /// IoT Hub's `disableDeviceSAS`: refuse SAS tokens (device keys and policy tokens) from
    /// device identities at CONNECT; certificates still work, modules are not affected.
    pub disable_device_sas: Option<bool>,
    /// IoT Hub's `disableModuleSAS`: the same for module identities.
    pub disable_module_sas: Option<bool>,
}

impl Hub {
    /// The hub's record as the directory holds it.
    pub fn hub_record(&self, hub: &HubName) -> Result<HubRecord, HubError> {
        self.directory()
            .hub(hub)
            .ok_or_else(|| HubError::HubNotFound(hub.to_string()))
    }

    /// Applies `update`, durably, then refreshes the directory every CONNECT consults.
    pub async fn update_hub_settings(
        &self,
        hub: &HubName,
        update: HubSettingsUpdate,
    ) -> Result<HubRecord, HubError> {
        let current = self.hub_record(hub)?;
        let record = HubRecord {
            disable_device_sas: update
                .disable_device_sas
                .unwrap_or(current.disable_device_sas),
            disable_module_sas: update
                .disable_module_sas
                .unwrap_or(current.disable_module_sas),
            ..current.clone()
        };
        self.store()
            .update_hub(record.clone())
            .await
            .map_err(|e| match e {
                StoreError::NotFound => HubError::HubNotFound(hub.to_string()),
                other => other.into(),
            })?;
        self.reload_directory().await?;
        // SAS just turned off: the connections that signed in with a token end now (a key
        // that leaked is why one turns it off), as the registry's CONNECT check does for new
        // ones.
        let scope = SasScope {
            devices: record.disable_device_sas && !current.disable_device_sas,
            modules: record.disable_module_sas && !current.disable_module_sas,
        };
        if scope.devices || scope.modules {
            self.presence()
                .revoke_sas_then(hub, scope, self.now(), |identity| {
                    self.emit_connection_event(hub, identity, false);
                });
        }
        Ok(record)
    }
}
