//! The identity registry: devices and modules, their keys, status and etags.
//!
//! IoT Hub's rules: empty keys are generated; keys must be base64 of 16–64 bytes; a PUT
//! without If-Match creates (409 if it exists), with If-Match updates (412 on a stale etag);
//! every write gets a new etag; disabling or re-keying an identity ends its live connection.

use ferrohub_protocol::{DeviceId, HubName, Identity};
use ferrohub_store::{
    AuthenticationType, DeviceAuthentication, DeviceCounts, DeviceRecord, DeviceStatus,
    Precondition, StoreError,
};

use crate::clock::format_time;
use crate::error::HubError;
use crate::events::EventSource;
use crate::hub::Hub;
use crate::keys::{generate_key, is_valid_key, new_etag, new_generation_id};

/// What a caller may set on an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySpec {
    pub status: DeviceStatus,
    pub status_reason: Option<String>,
    pub authentication: DeviceAuthentication,
    pub iot_edge: bool,
    pub device_scope: Option<String>,
    pub parent_scopes: Vec<String>,
    pub managed_by: Option<String>,
}

impl Default for IdentitySpec {
    fn default() -> Self {
        Self {
            status: DeviceStatus::Enabled,
            status_reason: None,
            authentication: DeviceAuthentication {
                kind: AuthenticationType::Sas,
                primary_key: None,
                secondary_key: None,
                primary_thumbprint: None,
                secondary_thumbprint: None,
            },
            iot_edge: false,
            device_scope: None,
            parent_scopes: Vec::new(),
            managed_by: None,
        }
    }
}

/// Whether a PUT created or replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    Updated,
}

impl Hub {
    /// Creates (no precondition) or updates (`Some(precondition)`) an identity.
    pub async fn put_identity(
        &self,
        hub: &HubName,
        identity: &Identity,
        spec: IdentitySpec,
        precondition: Option<Precondition>,
    ) -> Result<(DeviceRecord, PutOutcome), HubError> {
        let now = format_time(self.now());
        match precondition {
            None => {
                let authentication = normalise_authentication(spec.authentication.clone())?;
                let record = DeviceRecord {
                    hub: hub.clone(),
                    device_id: identity.device_id.clone(),
                    module_id: identity.module_id.clone(),
                    generation_id: new_generation_id(),
                    etag: new_etag(),
                    status: spec.status,
                    status_reason: spec.status_reason,
                    status_updated_time: now.clone(),
                    authentication,
                    iot_edge: spec.iot_edge,
                    device_scope: spec.device_scope,
                    parent_scopes: spec.parent_scopes,
                    managed_by: spec.managed_by,
                    created_time: now.clone(),
                    last_updated_time: now,
                };
                let created = self
                    .store()
                    .create_identity(record)
                    .await
                    .map_err(|e| map_missing(e, identity, true))?;
                self.registered_thumbprints().note(&created.authentication);
                // Every identity has its twin from the start, like IoT Hub's.
                if let Err(e) = self.store_new_twin(hub, identity).await
                    && e != StoreError::Conflict
                {
                    tracing::warn!(%identity, error = %e, "could not store the new twin; it is created on first read");
                }
                let twin = self.service_twin(hub, identity).await.unwrap_or_default();
                let op = if identity.module_id.is_some() {
                    "createModuleIdentity"
                } else {
                    "createDeviceIdentity"
                };
                self.emit_event(hub, identity, EventSource::Lifecycle, op, twin);
                Ok((created, PutOutcome::Created))
            }
            Some(precondition) => {
                let old = self
                    .store()
                    .get_identity(hub.clone(), identity.clone())
                    .await?
                    .ok_or_else(|| not_found(identity))?;
                let authentication = normalise_authentication(keep_unset_keys(
                    spec.authentication.clone(),
                    &old.authentication,
                ))?;
                let status_changed = old.status != spec.status;
                let keys_changed = old.authentication != authentication;
                let record = DeviceRecord {
                    etag: new_etag(),
                    status: spec.status,
                    status_reason: spec.status_reason,
                    status_updated_time: if status_changed {
                        now.clone()
                    } else {
                        old.status_updated_time.clone()
                    },
                    authentication,
                    iot_edge: spec.iot_edge,
                    device_scope: spec.device_scope.or(old.device_scope.clone()),
                    parent_scopes: spec.parent_scopes,
                    managed_by: spec.managed_by.or(old.managed_by.clone()),
                    last_updated_time: now,
                    ..old
                };
                let updated = self
                    .store()
                    .update_identity(record, precondition)
                    .await
                    .map_err(|e| map_missing(e, identity, false))?;
                self.registered_thumbprints().note(&updated.authentication);
                if updated.status == DeviceStatus::Disabled || keys_changed {
                    // Hostile cases C7/C10: a disabled or re-keyed identity loses its session.
                    let module = identity.module_id.as_ref().map(|_| identity);
                    self.revoke_identity(hub, &identity.device_id, module);
                }
                Ok((updated, PutOutcome::Updated))
            }
        }
    }

    pub async fn get_identity(
        &self,
        hub: &HubName,
        identity: &Identity,
    ) -> Result<DeviceRecord, HubError> {
        self.store()
            .get_identity(hub.clone(), identity.clone())
            .await?
            .ok_or_else(|| not_found(identity))
    }

    /// Deletes an identity (a device with all its modules) and ends its connections.
    pub async fn delete_identity(
        &self,
        hub: &HubName,
        identity: &Identity,
        precondition: Precondition,
    ) -> Result<DeviceRecord, HubError> {
        // The lifecycle event carries the twin as it was; read it before it is gone.
        let last_twin = self.service_twin(hub, identity).await.ok();
        let deleted = self
            .store()
            .delete_identity(hub.clone(), identity.clone(), precondition)
            .await
            .map_err(|e| map_missing(e, identity, false))?;
        let module = identity.module_id.as_ref().map(|_| identity);
        self.revoke_identity(hub, &identity.device_id, module);
        match module {
            Some(m) => self.twin_cache().forget(hub, m),
            None => self.twin_cache().forget_device(hub, &identity.device_id),
        }
        let op = if module.is_some() {
            "deleteModuleIdentity"
        } else {
            "deleteDeviceIdentity"
        };
        self.emit_event(
            hub,
            identity,
            EventSource::Lifecycle,
            op,
            last_twin.unwrap_or_default(),
        );
        if module.is_none() {
            self.presence().forget(hub, &identity.device_id);
        }
        Ok(deleted)
    }

    pub async fn list_devices(
        &self,
        hub: &HubName,
        after: Option<DeviceId>,
        limit: usize,
    ) -> Result<Vec<DeviceRecord>, HubError> {
        Ok(self.store().list_devices(hub.clone(), after, limit).await?)
    }

    pub async fn list_modules(
        &self,
        hub: &HubName,
        device: &DeviceId,
    ) -> Result<Vec<DeviceRecord>, HubError> {
        // Listing modules of a missing device is a 404 in IoT Hub.
        self.get_identity(hub, &Identity::device(device.clone()))
            .await?;
        Ok(self
            .store()
            .list_modules(hub.clone(), device.clone())
            .await?)
    }

    pub async fn device_counts(&self, hub: &HubName) -> Result<DeviceCounts, HubError> {
        Ok(self.store().count_devices(hub.clone()).await?)
    }

    pub fn connected_device_count(&self, hub: &HubName) -> usize {
        self.presence().connected_devices(hub)
    }
}

fn not_found(identity: &Identity) -> HubError {
    match &identity.module_id {
        Some(m) => HubError::ModuleNotFound(identity.device_id.to_string(), m.to_string()),
        None => HubError::DeviceNotFound(identity.device_id.to_string()),
    }
}

fn map_missing(e: StoreError, identity: &Identity, creating: bool) -> HubError {
    match (e, &identity.module_id) {
        (StoreError::Conflict, Some(m)) => {
            HubError::ModuleAlreadyExists(identity.device_id.to_string(), m.to_string())
        }
        (StoreError::Conflict, None) => {
            HubError::DeviceAlreadyExists(identity.device_id.to_string())
        }
        // Creating a module of a missing device: the device is what is missing.
        (StoreError::NotFound, Some(_)) if creating => {
            HubError::DeviceNotFound(identity.device_id.to_string())
        }
        (StoreError::NotFound, _) => not_found(identity),
        (other, _) => other.into(),
    }
}

/// On update, keys left empty keep their stored values (an update that only changes the
/// status must not silently rotate credentials); give new keys to rotate them.
fn keep_unset_keys(
    mut new: DeviceAuthentication,
    old: &DeviceAuthentication,
) -> DeviceAuthentication {
    if new.kind == old.kind && new.kind == AuthenticationType::Sas {
        let blank = |k: &Option<String>| k.as_deref().is_none_or(str::is_empty);
        if blank(&new.primary_key) {
            new.primary_key = old.primary_key.clone();
        }
        if blank(&new.secondary_key) {
            new.secondary_key = old.secondary_key.clone();
        }
    }
    new
}

/// Generates missing keys and checks given ones. Empty strings count as missing, because
/// both service SDKs send `""` when the caller gave no key.
fn normalise_authentication(
    mut auth: DeviceAuthentication,
) -> Result<DeviceAuthentication, HubError> {
    let blank = |k: &Option<String>| k.as_deref().is_none_or(str::is_empty);
    if auth.kind == AuthenticationType::Sas {
        for key in [&mut auth.primary_key, &mut auth.secondary_key] {
            if blank(key) {
                *key = Some(generate_key());
            } else if !key.as_deref().is_some_and(is_valid_key) {
                return Err(HubError::InvalidArgument(
                    "The symmetric key must be base64 of 16 to 64 bytes".into(),
                ));
            }
        }
        auth.primary_thumbprint = None;
        auth.secondary_thumbprint = None;
    } else {
        auth.primary_key = None;
        auth.secondary_key = None;
        if auth.kind == AuthenticationType::SelfSigned && blank(&auth.primary_thumbprint) {
            return Err(HubError::InvalidArgument(
                "A selfSigned device needs a primary thumbprint".into(),
            ));
        }
    }
    Ok(auth)
}
