//! The `Hub` handle: a cheap clone (`Arc` inside) that every connection and request calls.
//!
//! It owns the hub directory cache, presence, the per-hub telemetry logs and the store
//! handle. Opening it makes sure the default hub exists with its five shared access policies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ferrohub_log::TelemetryLog;
use ferrohub_protocol::session::AuthAccepted;
use ferrohub_protocol::topic::Subscription;
use ferrohub_protocol::{HubName, Identity};
use ferrohub_store::{
    AccessRights, HubRecord, PersistentSession, Rights, SharedAccessPolicy, Store, StoreError,
};
use time::OffsetDateTime;

use crate::clock::{Clock, format_time};
use crate::directory::Directory;
use crate::error::HubError;
use crate::events::EventSequence;
use crate::keys::generate_key;
use crate::methods::PendingCalls;
use crate::presence::Presence;
use crate::registered_thumbprints::RegisteredThumbprints;
use crate::trusted_cas::TrustedCas;
use crate::twin_cache::TwinCache;

/// Opens the telemetry log of one hub; the binary decides which backend.
pub type LogOpener = Arc<dyn Fn(&HubName) -> Result<Arc<dyn TelemetryLog>, HubError> + Send + Sync>;

/// What the composition root tells the hub at start.
#[derive(Clone)]
pub struct HubConfig {
    /// The hub that exists by default.
    pub default_hub: HubName,
    /// Its host names: the first is canonical, the rest are aliases (`--hostname`).
    pub default_hostnames: Vec<String>,
}

struct Inner {
    config: HubConfig,
    store: Arc<dyn Store>,
    open_log: LogOpener,
    logs: Mutex<HashMap<HubName, Arc<dyn TelemetryLog>>>,
    clock: Arc<dyn Clock>,
    directory: Directory,
    presence: Presence,
    pending_calls: PendingCalls,
    event_sequence: EventSequence,
    twin_cache: TwinCache,
    trusted_cas: TrustedCas,
    registered_thumbprints: RegisteredThumbprints,
}

/// The hub handle.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

/// The policies every new hub gets, as in IoT Hub.
const DEFAULT_POLICIES: &[(&str, &[AccessRights])] = &[
    (
        "iothubowner",
        &[
            AccessRights::RegistryRead,
            AccessRights::RegistryWrite,
            AccessRights::ServiceConnect,
            AccessRights::DeviceConnect,
        ],
    ),
    ("service", &[AccessRights::ServiceConnect]),
    ("device", &[AccessRights::DeviceConnect]),
    ("registryRead", &[AccessRights::RegistryRead]),
    (
        "registryReadWrite",
        &[AccessRights::RegistryRead, AccessRights::RegistryWrite],
    ),
];

impl Hub {
    pub async fn open(
        store: Arc<dyn Store>,
        open_log: LogOpener,
        clock: Arc<dyn Clock>,
        config: HubConfig,
    ) -> Result<Self, HubError> {
        let hub = Self {
            inner: Arc::new(Inner {
                config,
                store,
                open_log,
                logs: Mutex::new(HashMap::new()),
                clock,
                directory: Directory::default(),
                presence: Presence::default(),
                pending_calls: PendingCalls::default(),
                event_sequence: EventSequence::default(),
                twin_cache: TwinCache::default(),
                trusted_cas: TrustedCas::default(),
                registered_thumbprints: RegisteredThumbprints::default(),
            }),
        };
        hub.reload_directory().await?;
        hub.rebuild_trusted_cas().await?;
        let thumbprints = hub.store().self_signed_thumbprints().await?;
        hub.inner
            .registered_thumbprints
            .extend(thumbprints.iter().map(String::as_str));
        let default = hub.inner.config.default_hub.clone();
        if hub.directory().hub(&default).is_none() {
            let hostname = hub
                .inner
                .config
                .default_hostnames
                .first()
                .cloned()
                .unwrap_or_else(|| "localhost".to_owned());
            hub.create_hub(&default, &hostname).await?;
        }
        Ok(hub)
    }

    /// Creates a hub with its default policies and fresh keys.
    pub async fn create_hub(&self, name: &HubName, hostname: &str) -> Result<HubRecord, HubError> {
        let record = HubRecord {
            name: name.clone(),
            hostname: hostname.to_ascii_lowercase(),
            created_time: format_time(self.now()),
            disable_device_sas: false,
            disable_module_sas: false,
        };
        // An alias of this very hub (the default hub's `--hostname`s) is not a conflict.
        if self
            .directory()
            .hub_for_host(hostname)
            .is_some_and(|owner| &owner != name)
        {
            return Err(HubError::HubAlreadyExists(hostname.to_owned()));
        }
        self.store()
            .put_hub(record.clone())
            .await
            .map_err(|e| match e {
                StoreError::Conflict => HubError::HubAlreadyExists(name.to_string()),
                other => other.into(),
            })?;
        for (policy, rights) in DEFAULT_POLICIES {
            let rights = rights
                .iter()
                .fold(Rights::empty(), |r, right| r.with(*right));
            self.store()
                .put_policy(SharedAccessPolicy {
                    hub: name.clone(),
                    name: (*policy).to_owned(),
                    primary_key: generate_key(),
                    secondary_key: generate_key(),
                    rights,
                })
                .await?;
        }
        self.reload_directory().await?;
        Ok(record)
    }

    pub(crate) async fn reload_directory(&self) -> Result<(), HubError> {
        let hubs = self.store().hubs().await?;
        let mut policies = Vec::new();
        for h in &hubs {
            policies.extend(self.store().policies(h.name.clone()).await?);
        }
        let aliases: Vec<(String, HubName)> = self
            .inner
            .config
            .default_hostnames
            .iter()
            .map(|h| (h.clone(), self.inner.config.default_hub.clone()))
            .collect();
        self.directory().replace(hubs, policies, &aliases);
        Ok(())
    }

    pub fn default_hub(&self) -> &HubName {
        &self.inner.config.default_hub
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub fn directory(&self) -> &Directory {
        &self.inner.directory
    }

    pub fn presence(&self) -> &Presence {
        &self.inner.presence
    }

    /// Every hub's verified CA certificates; the TLS layer keeps a clone and reads its
    /// snapshot per handshake.
    pub fn trusted_cas(&self) -> &TrustedCas {
        &self.inner.trusted_cas
    }

    /// The thumbprints of every `selfSigned` identity; the TLS layer keeps a clone and lets
    /// a certificate whose chain reaches no verified CA through when its thumbprint is here.
    pub fn registered_thumbprints(&self) -> &RegisteredThumbprints {
        &self.inner.registered_thumbprints
    }

    pub(crate) fn pending_calls(&self) -> &PendingCalls {
        &self.inner.pending_calls
    }

    pub(crate) fn event_sequence(&self) -> &EventSequence {
        &self.inner.event_sequence
    }

    pub(crate) fn twin_cache(&self) -> &TwinCache {
        &self.inner.twin_cache
    }

    pub fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    /// The telemetry log of `hub`, opened on first use.
    pub fn log_for(&self, hub: &HubName) -> Result<Arc<dyn TelemetryLog>, HubError> {
        let mut logs = self.inner.logs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(log) = logs.get(hub) {
            return Ok(log.clone());
        }
        if self.directory().hub(hub).is_none() {
            return Err(HubError::HubNotFound(hub.to_string()));
        }
        let log = (self.inner.open_log)(hub)?;
        logs.insert(hub.clone(), log.clone());
        Ok(log)
    }

    /// Every telemetry log opened so far (for shutdown and retention).
    pub fn open_logs(&self) -> Vec<Arc<dyn TelemetryLog>> {
        let logs = self.inner.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.values().cloned().collect()
    }

    /// Starts a connection's session: with CleanSession=0 the stored subscriptions come back;
    /// with CleanSession=1 the stored session is dropped (by the session's own request).
    pub async fn resume_session(
        &self,
        hub: &HubName,
        identity: &Identity,
        clean_session: bool,
        valid_for: Option<std::time::Duration>,
    ) -> Result<AuthAccepted, HubError> {
        let stored = if clean_session {
            None
        } else {
            self.store()
                .get_session(hub.clone(), identity.clone())
                .await?
        };
        let subscriptions = stored
            .as_ref()
            .map(|s| {
                s.subscriptions
                    .iter()
                    .filter_map(|f| Subscription::parse(f, identity))
                    .collect()
            })
            .unwrap_or_default();
        Ok(AuthAccepted {
            valid_for,
            session_present: stored.is_some(),
            subscriptions,
        })
    }

    /// Persists a CleanSession=0 session's subscriptions.
    pub async fn save_session(
        &self,
        hub: &HubName,
        identity: &Identity,
        subscriptions: &[Subscription],
    ) -> Result<(), HubError> {
        let session = PersistentSession {
            hub: hub.clone(),
            identity: identity.clone(),
            subscriptions: subscriptions.iter().map(|s| s.filter(identity)).collect(),
            updated_time: format_time(self.now()),
        };
        Ok(self.store().put_session(session).await?)
    }

    pub async fn drop_session(&self, hub: &HubName, identity: &Identity) -> Result<(), HubError> {
        self.store()
            .delete_session(hub.clone(), identity.clone())
            .await?;
        Ok(())
    }
}
