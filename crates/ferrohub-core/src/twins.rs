//! Twin operations: the device's GET and reported PATCH over MQTT, the back end's GET, PATCH
//! and PUT over REST, and the desired-property notification to a connected device.
//!
//! The document rules live in [`crate::twin`]; this module loads, applies and stores with
//! compare-and-swap on the twin version, retrying a bounded number of times when a device
//! write and a back-end write race, and never lets a version go backwards.

use bytes::Bytes;
use ferrohub_protocol::session::{DesiredUpdate, HubEvent};
use ferrohub_protocol::{HubName, Identity};
use ferrohub_store::{DeviceRecord, StoreError, TwinRecord};
use serde_json::{Map, Value, json};

use crate::clock::{NEVER, format_time};
use crate::error::HubError;
use crate::events::EventSource;
use crate::hub::Hub;
use crate::twin::{ServiceUpdate, TwinDocument, TwinError};

/// How often a write retries after losing a compare-and-swap race before giving up (503).
const MAX_CAS_RETRIES: usize = 16;

/// A back-end write: merge (PATCH) or replace (PUT) tags and desired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwinWrite {
    Patch,
    Replace,
}

/// Why a device's twin request failed, as the MQTT response needs it.
#[derive(Debug)]
pub enum DeviceTwinError {
    Invalid(TwinError),
    Hub(HubError),
}

impl Hub {
    /// The stored twin, or a new one when the identity has never had a write.
    /// The stored twin. An identity without one (created before twins were stored with it)
    /// gets one stored now, so its etag stays the same from read to read, as a back end's
    /// read-then-conditional-update needs.
    async fn load_twin(
        &self,
        hub: &HubName,
        identity: &Identity,
    ) -> Result<(TwinDocument, Option<u64>), HubError> {
        if let Some((version, doc)) = self.twin_cache().get(hub, identity) {
            return Ok(((*doc).clone(), Some(version)));
        }
        for _ in 0..2 {
            if let Some(record) = self.store().get_twin(hub.clone(), identity.clone()).await? {
                let doc: TwinDocument = serde_json::from_value(record.document).map_err(|e| {
                    HubError::Unavailable(format!(
                        "the stored twin of {identity} is unreadable: {e}"
                    ))
                })?;
                self.twin_cache().put(
                    hub,
                    identity,
                    record.version,
                    std::sync::Arc::new(doc.clone()),
                );
                return Ok((doc, Some(record.version)));
            }
            match self.store_new_twin(hub, identity).await {
                // Another request stored it first: read that one.
                Ok(()) | Err(StoreError::Conflict) => continue,
                Err(StoreError::NotFound) => return Err(not_found(identity)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(HubError::Unavailable(format!(
            "the twin of {identity} could not be read"
        )))
    }

    /// Stores the empty twin every identity starts with.
    pub(crate) async fn store_new_twin(
        &self,
        hub: &HubName,
        identity: &Identity,
    ) -> Result<(), StoreError> {
        let doc = TwinDocument::new(self.now());
        let record = TwinRecord {
            hub: hub.clone(),
            identity: identity.clone(),
            version: doc.version,
            document: serde_json::to_value(&doc)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?,
        };
        self.store().put_twin(record, None).await
    }

    /// Applies `write` to the twin with compare-and-swap, retrying lost races.
    async fn update_twin<T>(
        &self,
        hub: &HubName,
        identity: &Identity,
        mut write: impl FnMut(&mut TwinDocument) -> Result<T, HubError>,
    ) -> Result<(TwinDocument, T), HubError> {
        for _ in 0..MAX_CAS_RETRIES {
            let (mut doc, expected) = self.load_twin(hub, identity).await?;
            let outcome = write(&mut doc)?;
            let record = TwinRecord {
                hub: hub.clone(),
                identity: identity.clone(),
                version: doc.version,
                document: serde_json::to_value(&doc)
                    .map_err(|e| HubError::Unavailable(e.to_string()))?,
            };
            let version = record.version;
            match self.store().put_twin(record, expected).await {
                Ok(()) => {
                    self.twin_cache()
                        .put(hub, identity, version, std::sync::Arc::new(doc.clone()));
                    return Ok((doc, outcome));
                }
                Err(StoreError::PreconditionFailed | StoreError::Conflict) => {
                    // Someone wrote first: read the store again, not a possibly stale copy.
                    self.twin_cache().forget(hub, identity);
                    continue;
                }
                Err(StoreError::NotFound) => return Err(not_found(identity)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(HubError::Unavailable(
            "the twin is being written too often; try again".into(),
        ))
    }

    /// `$iothub/twin/GET`: desired and reported with their `$version`s.
    pub async fn device_twin(&self, hub: &HubName, identity: &Identity) -> Result<Value, HubError> {
        Ok(self.load_twin(hub, identity).await?.0.device_view())
    }

    /// `$iothub/twin/PATCH/properties/reported`: returns the new reported `$version`.
    pub async fn patch_reported(
        &self,
        hub: &HubName,
        identity: &Identity,
        body: &[u8],
    ) -> Result<u64, DeviceTwinError> {
        let patch: Value = serde_json::from_slice(body).map_err(|e| {
            DeviceTwinError::Invalid(TwinError::InvalidJson(format!(
                "the patch is not JSON: {e}"
            )))
        })?;
        let now = self.now();
        let mut invalid = None;
        let result = self
            .update_twin(hub, identity, |doc| match doc.patch_reported(&patch, now) {
                Ok(v) => Ok(v),
                Err(e) => {
                    invalid = Some(e.clone());
                    Err(e.into())
                }
            })
            .await;
        match (result, invalid) {
            (Ok((doc, version)), _) => {
                let body = json!({
                    "version": doc.version,
                    "properties": { "reported": patch },
                });
                self.emit_event(hub, identity, EventSource::TwinChange, "updateTwin", body);
                Ok(version)
            }
            (Err(_), Some(e)) => Err(DeviceTwinError::Invalid(e)),
            (Err(e), None) => Err(DeviceTwinError::Hub(e)),
        }
    }

    /// `GET /twins/{id}`: the full twin JSON with the registry's fields.
    pub async fn service_twin(
        &self,
        hub: &HubName,
        identity: &Identity,
    ) -> Result<Value, HubError> {
        let record = self.get_identity(hub, identity).await?;
        let (doc, _) = self.load_twin(hub, identity).await?;
        let mut view = doc.service_view(self.twin_identity_fields(hub, &record));
        if record.module_id.is_none() {
            let count = self.c2d_queue_depth(hub, &identity.device_id).await?;
            view["cloudToDeviceMessageCount"] = json!(count);
        }
        Ok(view)
    }

    /// `PATCH` or `PUT /twins/{id}`, optionally conditional on the twin etag (412 when stale).
    /// A desired change is sent to the connected device.
    pub async fn write_twin(
        &self,
        hub: &HubName,
        identity: &Identity,
        body: &Value,
        mode: TwinWrite,
        if_match: Option<&str>,
    ) -> Result<Value, HubError> {
        let record = self.get_identity(hub, identity).await?;
        let now = self.now();
        let (doc, update) = self
            .update_twin(hub, identity, |doc| {
                if let Some(etag) = if_match
                    && etag != "*"
                    && etag != doc.etag
                {
                    return Err(HubError::PreconditionFailed);
                }
                let update: ServiceUpdate = match mode {
                    TwinWrite::Patch => doc.patch_service(body, now)?,
                    TwinWrite::Replace => doc.replace_service(body, now)?,
                };
                Ok(update)
            })
            .await?;
        let view = doc.service_view(self.twin_identity_fields(hub, &record));
        let change = match mode {
            TwinWrite::Replace => ("replaceTwin", view.clone()),
            TwinWrite::Patch => {
                let mut body = serde_json::Map::new();
                body.insert("version".into(), json!(doc.version));
                if update.tags_changed {
                    body.insert("tags".into(), view["tags"].clone());
                }
                if let Some(patch) = &update.desired_patch {
                    body.insert("properties".into(), json!({ "desired": patch }));
                }
                ("updateTwin", Value::Object(body))
            }
        };
        self.emit_event(hub, identity, EventSource::TwinChange, change.0, change.1);
        if let Some(notification) = TwinDocument::desired_notification(&update) {
            // Only to a connected, subscribed device; IoT Hub does not queue these.
            let body = Bytes::from(serde_json::to_vec(&notification).unwrap_or_default());
            self.presence().send(
                hub,
                identity,
                HubEvent::DesiredPatch(Box::new(DesiredUpdate {
                    version: update.desired_version,
                    body,
                })),
            );
        }
        Ok(view)
    }

    /// The registry fields IoT Hub's twin JSON carries next to the document.
    pub(crate) fn twin_identity_fields(
        &self,
        hub: &HubName,
        record: &DeviceRecord,
    ) -> Map<String, Value> {
        let state = self.presence().state(hub, &record.identity());
        let (connection, activity) = match state {
            Some(s) => (
                if s.connected {
                    "Connected"
                } else {
                    "Disconnected"
                },
                s.last_activity
                    .map_or_else(|| NEVER.to_owned(), format_time),
            ),
            None => ("Disconnected", NEVER.to_owned()),
        };
        let auth_type = match record.authentication.kind {
            ferrohub_store::AuthenticationType::Sas => "sas",
            ferrohub_store::AuthenticationType::SelfSigned => "selfSigned",
            ferrohub_store::AuthenticationType::CertificateAuthority => "certificateAuthority",
            ferrohub_store::AuthenticationType::None => "none",
        };
        let mut fields = Map::new();
        fields.insert("deviceId".into(), json!(record.device_id));
        if let Some(m) = &record.module_id {
            fields.insert("moduleId".into(), json!(m));
        }
        fields.insert("deviceEtag".into(), json!(record.etag));
        fields.insert("status".into(), json!(record.status));
        fields.insert("statusReason".into(), json!(record.status_reason));
        fields.insert("statusUpdateTime".into(), json!(record.status_updated_time));
        fields.insert("connectionState".into(), json!(connection));
        fields.insert("lastActivityTime".into(), json!(activity));
        fields.insert("cloudToDeviceMessageCount".into(), json!(0));
        fields.insert("authenticationType".into(), json!(auth_type));
        fields.insert(
            "x509Thumbprint".into(),
            json!({"primaryThumbprint": record.authentication.primary_thumbprint, "secondaryThumbprint": record.authentication.secondary_thumbprint}),
        );
        fields.insert("modelId".into(), json!(""));
        if record.module_id.is_none() {
            fields.insert("capabilities".into(), json!({"iotEdge": record.iot_edge}));
        }
        fields
    }
}

fn not_found(identity: &Identity) -> HubError {
    match &identity.module_id {
        Some(m) => HubError::ModuleNotFound(identity.device_id.to_string(), m.to_string()),
        None => HubError::DeviceNotFound(identity.device_id.to_string()),
    }
}
