//! The verified CA certificates of every hub, as one immutable snapshot that the TLS layer
//! reads on each handshake and CONNECT reads again to pick the device's own hub.
//!
//! Readers clone an `Arc` under a read lock (no copying, no waiting on the store); the hub
//! builds a new snapshot from the store after every change to a CA certificate and swaps it
//! in. Rebuilds are serialised so an older rebuild can never overwrite a newer one. An
//! unverified certificate (proof of possession not completed) is never in the snapshot.

use std::sync::{Arc, RwLock};

use ferrohub_protocol::HubName;
use ferrohub_store::{CaCertificateName, CaCertificateRecord};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// One verified CA certificate that may vouch for devices of its hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedCa {
    pub hub: HubName,
    pub name: CaCertificateName,
    /// Uppercase hex SHA-1 of `der`.
    pub thumbprint: String,
    pub der: Vec<u8>,
    /// Unix seconds; an expired CA vouches for nobody (a trust anchor's own dates are not
    /// checked by path validation, so they are checked here).
    pub not_after: i64,
}

impl TrustedCa {
    /// The snapshot entry for a stored certificate, if it is verified and its expiry reads.
    pub fn from_record(record: &CaCertificateRecord) -> Option<Self> {
        if !record.is_verified {
            return None;
        }
        let not_after = OffsetDateTime::parse(&record.expiry, &Rfc3339)
            .inspect_err(|e| {
                tracing::warn!(hub = %record.hub, certificate = %record.name, error = %e,
                    "a CA certificate's stored expiry does not parse; it is not trusted");
            })
            .ok()?
            .unix_timestamp();
        Some(Self {
            hub: record.hub.clone(),
            name: record.name.clone(),
            thumbprint: record.thumbprint.clone(),
            der: record.der.clone(),
            not_after,
        })
    }

    pub fn is_expired_at(&self, unix_seconds: i64) -> bool {
        unix_seconds > self.not_after
    }
}

/// Every hub's verified CA certificates at one moment.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TrustedCaSet {
    pub cas: Vec<TrustedCa>,
}

impl TrustedCaSet {
    /// Whether one of `thumbprints` (CAs a device's chain was verified to) is a verified CA
    /// of `hub`.
    pub fn vouches_for(&self, hub: &HubName, thumbprints: &[String]) -> bool {
        self.cas.iter().any(|ca| {
            &ca.hub == hub
                && thumbprints
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(&ca.thumbprint))
        })
    }
}

/// The shared handle: cheap to clone, read per handshake, replaced by the hub.
#[derive(Debug, Clone, Default)]
pub struct TrustedCas {
    current: Arc<RwLock<Arc<TrustedCaSet>>>,
    /// Held across "read the store, swap the snapshot" so rebuilds happen one at a time.
    rebuild: Arc<tokio::sync::Mutex<()>>,
}

impl TrustedCas {
    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<TrustedCaSet> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn replace(&self, set: TrustedCaSet) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
    }

    pub(crate) async fn rebuilding(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.rebuild.lock().await
    }
}
