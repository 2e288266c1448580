//! The storage traits. They are object-safe and return boxed `'static` futures so the server
//! can hold `Arc<dyn Store>` and a backend can run its work on any executor or thread pool.

use std::future::Future;
use std::pin::Pin;

use ferrohub_protocol::ids::{DeviceId, HubName, Identity};

use crate::error::StoreError;
use crate::hub::{HubRecord, SharedAccessPolicy};
use crate::identity::{DeviceCounts, DeviceRecord};
use crate::precondition::Precondition;
use crate::session::PersistentSession;

/// What every storage call returns. Once it resolves `Ok`, the change is durable.
pub type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'static>>;

/// The hubs this server hosts and their shared access policies.
pub trait HubCatalog: Send + Sync + 'static {
    /// Inserts a hub; `Conflict` if the name exists or the host name belongs to another hub.
    fn put_hub(&self, hub: HubRecord) -> StoreFuture<()>;
    /// Every hub, ordered by name.
    fn hubs(&self) -> StoreFuture<Vec<HubRecord>>;
    /// Inserts or replaces the policy with the same (hub, name); `NotFound` if the hub does not exist.
    fn put_policy(&self, policy: SharedAccessPolicy) -> StoreFuture<()>;
    /// A hub's policies, ordered by name.
    fn policies(&self, hub: HubName) -> StoreFuture<Vec<SharedAccessPolicy>>;
}

/// The identity registry: devices and their modules, per hub.
pub trait Registry: Send + Sync + 'static {
    /// Insert a new device or module; `Conflict` when (hub, device, module) exists; for a module,
    /// `NotFound` when its device does not exist.
    fn create_identity(&self, record: DeviceRecord) -> StoreFuture<DeviceRecord>;
    /// Replace an existing one, compare-and-swap on etag per `Precondition`; `NotFound` when
    /// missing; `PreconditionFailed` on mismatch. The store does not compute etags: the caller
    /// sets the new etag in `record`; the precondition compares against the stored etag.
    fn update_identity(
        &self,
        record: DeviceRecord,
        precondition: Precondition,
    ) -> StoreFuture<DeviceRecord>;
    fn get_identity(&self, hub: HubName, identity: Identity) -> StoreFuture<Option<DeviceRecord>>;
    /// Delete a device (and all its modules and its persistent sessions) or one module.
    /// `NotFound` / `PreconditionFailed` as above. Returns the deleted record.
    fn delete_identity(
        &self,
        hub: HubName,
        identity: Identity,
        precondition: Precondition,
    ) -> StoreFuture<DeviceRecord>;
    /// Devices only (no modules), ordered by device id, at most `limit`, starting after
    /// `after` (exclusive) for paging.
    fn list_devices(
        &self,
        hub: HubName,
        after: Option<DeviceId>,
        limit: usize,
    ) -> StoreFuture<Vec<DeviceRecord>>;
    /// A device's modules, ordered by module id (empty if the device has none or is missing).
    fn list_modules(&self, hub: HubName, device: DeviceId) -> StoreFuture<Vec<DeviceRecord>>;
    fn count_devices(&self, hub: HubName) -> StoreFuture<DeviceCounts>;
}

/// Persistent MQTT sessions (clean session = false).
pub trait Sessions: Send + Sync + 'static {
    /// Inserts or replaces; durable once resolved.
    fn put_session(&self, session: PersistentSession) -> StoreFuture<()>;
    fn get_session(
        &self,
        hub: HubName,
        identity: Identity,
    ) -> StoreFuture<Option<PersistentSession>>;
    /// Whether a session existed.
    fn delete_session(&self, hub: HubName, identity: Identity) -> StoreFuture<bool>;
}

/// Everything the server needs from a backend.
pub trait Store: HubCatalog + Registry + Sessions {}

impl<T: HubCatalog + Registry + Sessions> Store for T {}
