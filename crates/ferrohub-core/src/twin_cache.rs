//! Recently used twins, so a device's twin GET does not read and parse the database each
//! time (twins are read far more often than written).
//!
//! It only ever holds what was durably stored: entries are filled after a store read and
//! after a committed write, and dropped when a write loses a compare-and-swap or the identity
//! is deleted. It assumes this process is the only writer of its store, which holds for the
//! embedded backend; a shared backend (several servers) must not use it. Bounded: at
//! `MAX_ENTRIES` it is cleared rather than grown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ferrohub_protocol::{DeviceId, HubName, Identity};

use crate::twin::TwinDocument;

const MAX_ENTRIES: usize = 65_536;

type Key = (HubName, Identity);

#[derive(Debug, Default)]
pub struct TwinCache {
    entries: Mutex<HashMap<Key, (u64, Arc<TwinDocument>)>>,
}

impl TwinCache {
    pub fn get(&self, hub: &HubName, identity: &Identity) -> Option<(u64, Arc<TwinDocument>)> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(&(hub.clone(), identity.clone())).cloned()
    }

    /// Records a stored version; an older version never replaces a newer one.
    pub fn put(&self, hub: &HubName, identity: &Identity, version: u64, doc: Arc<TwinDocument>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        let key = (hub.clone(), identity.clone());
        match entries.get(&key) {
            Some((stored, _)) if *stored > version => {}
            _ => {
                entries.insert(key, (version, doc));
            }
        }
    }

    pub fn forget(&self, hub: &HubName, identity: &Identity) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(&(hub.clone(), identity.clone()));
    }

    /// Forgets a device and all its modules.
    pub fn forget_device(&self, hub: &HubName, device: &DeviceId) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|(h, i), _| !(h == hub && &i.device_id == device));
    }
}
