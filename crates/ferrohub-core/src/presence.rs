//! Which connection holds which identity.
//!
//! IoT Hub allows one connection per identity: registering a newer connection tells the
//! older one `TakenOver` (error 400027) and forgets it. Registration is atomic under one
//! lock, so two CONNECTs racing for the same device always leave exactly one holder.
//! Revocation (device disabled, deleted or re-keyed) tells every holder `Revoked`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use std::collections::BTreeSet;

use ferrohub_protocol::session::HubEvent;
use ferrohub_protocol::topic::Subscription;
use ferrohub_protocol::{DeviceId, HubName, Identity};
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::mailbox::{EventReceiver, EventSender, mailbox};

/// Events queued for one connection (kicks, method calls, desired patches). Overflow policy:
/// `send` refuses the event; a method call then fails as DeviceNotOnline and a desired patch
/// is not delivered (IoT Hub does not queue those either: the device GETs its twin). A kick
/// that finds the queue full still ends the connection, because the slot's sender is dropped
/// and the connection reads that as "revoked".
const EVENT_QUEUE: usize = 64;

type Key = (HubName, Identity);

#[derive(Debug)]
struct Slot {
    generation: u64,
    events: EventSender,
    /// What the connection subscribed to (decides whether methods can reach it).
    subscriptions: BTreeSet<Subscription>,
    /// Authenticated with a SAS token (so `disableDeviceSAS`/`disableModuleSAS` end it).
    by_sas: bool,
}

/// Which SAS-authenticated connections of a hub [`Presence::revoke_sas_then`] ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SasScope {
    pub devices: bool,
    pub modules: bool,
}

/// What the registry reports about an identity's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionState {
    pub connected: bool,
    pub updated: OffsetDateTime,
    pub last_activity: Option<OffsetDateTime>,
}

/// Proof of holding an identity; give it back with `Presence::release`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLease {
    pub hub: HubName,
    pub identity: Identity,
    pub generation: u64,
}

#[derive(Debug, Default)]
pub struct Presence {
    slots: Mutex<HashMap<Key, Slot>>,
    states: Mutex<HashMap<Key, ConnectionState>>,
    next_generation: AtomicU64,
    /// Woken on every connect, disconnect and subscription change, so a method call can
    /// wait (up to its connect timeout) for its device to come online.
    changed: Notify,
}

impl Presence {
    /// Takes the identity for a new connection, kicking any older holder.
    pub fn register(
        &self,
        hub: &HubName,
        identity: &Identity,
        by_sas: bool,
        now: OffsetDateTime,
    ) -> (ConnectionLease, EventReceiver) {
        self.register_then(hub, identity, by_sas, now, |_| {})
    }

    /// `register`, calling `on_connect(took_over)` under the presence lock, so connection
    /// events of one identity are emitted in the order the transitions happened.
    pub fn register_then(
        &self,
        hub: &HubName,
        identity: &Identity,
        by_sas: bool,
        now: OffsetDateTime,
        on_connect: impl FnOnce(bool),
    ) -> (ConnectionLease, EventReceiver) {
        let (tx, rx) = mailbox(EVENT_QUEUE);
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        let key = (hub.clone(), identity.clone());
        let old = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let old = slots.insert(
                key.clone(),
                Slot {
                    generation,
                    events: tx,
                    subscriptions: BTreeSet::new(),
                    by_sas,
                },
            );
            on_connect(old.is_some());
            old
        };
        if let Some(old) = old {
            let _ = old.events.try_send(HubEvent::TakenOver);
        }
        self.set_state(key, true, now);
        self.changed.notify_waiters();
        let lease = ConnectionLease {
            hub: hub.clone(),
            identity: identity.clone(),
            generation,
        };
        (lease, rx)
    }

    /// Gives the identity back, unless a newer connection already took it.
    pub fn release(&self, lease: &ConnectionLease, now: OffsetDateTime) {
        self.release_then(lease, now, || {});
    }

    /// `release`, calling `on_disconnect` under the presence lock when the identity really
    /// went offline (not when a newer connection had taken it over).
    pub fn release_then(
        &self,
        lease: &ConnectionLease,
        now: OffsetDateTime,
        on_disconnect: impl FnOnce(),
    ) {
        let key = (lease.hub.clone(), lease.identity.clone());
        let released = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let released = match slots.get(&key) {
                Some(slot) if slot.generation == lease.generation => slots.remove(&key).is_some(),
                _ => false,
            };
            if released {
                on_disconnect();
            }
            released
        };
        if released {
            self.set_state(key, false, now);
            self.changed.notify_waiters();
        }
    }

    /// Records the connection's current subscriptions (ignored once it was taken over).
    pub fn set_subscriptions(&self, lease: &ConnectionLease, subscriptions: &[Subscription]) {
        let key = (lease.hub.clone(), lease.identity.clone());
        {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            match slots.get_mut(&key) {
                Some(slot) if slot.generation == lease.generation => {
                    slot.subscriptions = subscriptions.iter().copied().collect();
                }
                _ => return,
            }
        }
        self.changed.notify_waiters();
    }

    /// True when `identity` is connected and subscribed to `subscription`.
    pub fn is_subscribed(
        &self,
        hub: &HubName,
        identity: &Identity,
        subscription: Subscription,
    ) -> bool {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .get(&(hub.clone(), identity.clone()))
            .is_some_and(|s| s.subscriptions.contains(&subscription))
    }

    /// Hands an event to the identity's connection; false when it is not connected or its
    /// queue is full (the caller treats both as "not online").
    pub fn send(&self, hub: &HubName, identity: &Identity, event: HubEvent) -> bool {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .get(&(hub.clone(), identity.clone()))
            .is_some_and(|s| s.events.try_send(event).is_ok())
    }

    /// Resolves at the next connect, disconnect or subscription change. Create it before
    /// checking the condition it waits for, so no change is missed in between.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    /// Ends the connection of `identity`, or with `whole_device`, of the device and all its
    /// modules.
    pub fn revoke(
        &self,
        hub: &HubName,
        device: &DeviceId,
        module: Option<&Identity>,
        now: OffsetDateTime,
    ) {
        self.revoke_then(hub, device, module, now, |_| {});
    }

    /// `revoke`, calling `on_disconnect` under the presence lock for each identity dropped.
    pub fn revoke_then(
        &self,
        hub: &HubName,
        device: &DeviceId,
        module: Option<&Identity>,
        now: OffsetDateTime,
        on_disconnect: impl FnMut(&Identity),
    ) {
        self.revoke_where(
            |(h, i), _| h == hub && &i.device_id == device && module.is_none_or(|m| m == i),
            now,
            on_disconnect,
        );
    }

    /// Ends the connections of `hub` that authenticated with a SAS token, devices', modules'
    /// or both as `scope` says (a hub just turned SAS off), calling `on_disconnect` under the
    /// presence lock for each identity dropped.
    pub fn revoke_sas_then(
        &self,
        hub: &HubName,
        scope: SasScope,
        now: OffsetDateTime,
        on_disconnect: impl FnMut(&Identity),
    ) {
        self.revoke_where(
            |(h, i), slot| {
                let in_scope = if i.module_id.is_some() {
                    scope.modules
                } else {
                    scope.devices
                };
                h == hub && slot.by_sas && in_scope
            },
            now,
            on_disconnect,
        );
    }

    /// Removes every connection `which` selects, tells each it was revoked and records it
    /// offline; `on_disconnect` runs under the presence lock, once per identity.
    fn revoke_where(
        &self,
        which: impl Fn(&Key, &Slot) -> bool,
        now: OffsetDateTime,
        mut on_disconnect: impl FnMut(&Identity),
    ) {
        let removed: Vec<(Key, Slot)> = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let keys: Vec<Key> = slots
                .iter()
                .filter(|(key, slot)| which(key, slot))
                .map(|(key, _)| key.clone())
                .collect();
            let removed: Vec<(Key, Slot)> = keys
                .into_iter()
                .filter_map(|k| slots.remove(&k).map(|s| (k, s)))
                .collect();
            for (key, _) in &removed {
                on_disconnect(&key.1);
            }
            removed
        };
        for (key, slot) in removed {
            let _ = slot.events.try_send(HubEvent::Revoked);
            self.set_state(key, false, now);
        }
    }

    /// Tells every connection the server is stopping.
    pub fn shutdown_all(&self) {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        for slot in slots.values() {
            let _ = slot.events.try_send(HubEvent::Shutdown);
        }
    }

    pub fn note_activity(&self, hub: &HubName, identity: &Identity, now: OffsetDateTime) {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = states.get_mut(&(hub.clone(), identity.clone())) {
            s.last_activity = Some(now);
        }
    }

    pub fn state(&self, hub: &HubName, identity: &Identity) -> Option<ConnectionState> {
        let states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        states.get(&(hub.clone(), identity.clone())).copied()
    }

    /// Connected devices (modules not counted), as `GET /statistics/service` reports.
    pub fn connected_devices(&self, hub: &HubName) -> usize {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .keys()
            .filter(|(h, i)| h == hub && i.module_id.is_none())
            .count()
    }

    /// Forgets the recorded state of a deleted identity.
    pub fn forget(&self, hub: &HubName, device: &DeviceId) {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        states.retain(|(h, i), _| !(h == hub && &i.device_id == device));
    }

    fn set_state(&self, key: Key, connected: bool, now: OffsetDateTime) {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let entry = states.entry(key).or_insert(ConnectionState {
            connected,
            updated: now,
            last_activity: None,
        });
        entry.connected = connected;
        entry.updated = now;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ids() -> (HubName, Identity) {
        (
            HubName::new("h").unwrap(),
            Identity::from_client_id("d").unwrap(),
        )
    }

    #[test]
    fn a_newer_connection_takes_the_identity_over() {
        let p = Presence::default();
        let (hub, id) = ids();
        let now = OffsetDateTime::UNIX_EPOCH;
        let (old, mut old_rx) = p.register(&hub, &id, true, now);
        let (new, _new_rx) = p.register(&hub, &id, true, now);
        assert_eq!(old_rx.try_recv(), Some(HubEvent::TakenOver));
        // The old connection's release must not evict the new holder.
        p.release(&old, now);
        assert_eq!(p.connected_devices(&hub), 1);
        p.release(&new, now);
        assert_eq!(p.connected_devices(&hub), 0);
    }

    #[test]
    fn revoking_a_device_ends_its_modules_too() {
        let p = Presence::default();
        let (hub, id) = ids();
        let module = Identity::from_client_id("d/m").unwrap();
        let now = OffsetDateTime::UNIX_EPOCH;
        let (_a, mut rx_a) = p.register(&hub, &id, true, now);
        let (_b, mut rx_b) = p.register(&hub, &module, true, now);
        p.revoke(&hub, &id.device_id, None, now);
        assert_eq!(rx_a.try_recv(), Some(HubEvent::Revoked));
        assert_eq!(rx_b.try_recv(), Some(HubEvent::Revoked));
        assert!(!p.state(&hub, &id).unwrap().connected);
    }

    #[test]
    fn turning_sas_off_ends_only_the_sas_connections_in_scope() {
        let p = Presence::default();
        let (hub, _) = ids();
        let other_hub = HubName::new("other").unwrap();
        let now = OffsetDateTime::UNIX_EPOCH;
        let id = |s: &str| Identity::from_client_id(s).unwrap();
        let (_a, mut sas_device) = p.register(&hub, &id("a"), true, now);
        let (_b, mut cert_device) = p.register(&hub, &id("b"), false, now);
        let (_c, mut sas_module) = p.register(&hub, &id("a/m"), true, now);
        let (_d, mut elsewhere) = p.register(&other_hub, &id("a"), true, now);
        let mut ended = Vec::new();
        let scope = SasScope {
            devices: true,
            modules: false,
        };
        p.revoke_sas_then(&hub, scope, now, |i| ended.push(i.to_string()));
        assert_eq!(ended, ["a"]);
        assert_eq!(sas_device.try_recv(), Some(HubEvent::Revoked));
        assert_eq!(cert_device.try_recv(), None);
        assert_eq!(sas_module.try_recv(), None);
        assert_eq!(elsewhere.try_recv(), None);
        assert!(!p.state(&hub, &id("a")).unwrap().connected);
    }
}
