//! The storage traits. They are object-safe and return boxed `'static` futures so the server
//! can hold `Arc<dyn Store>` and a backend can run its work on any executor or thread pool.

use std::future::Future;
use std::pin::Pin;

use ferrohub_protocol::ids::{DeviceId, HubName, Identity};

use crate::c2d::{C2dMessage, FeedbackBatch, FeedbackRecord};
use crate::ca_certificate::{CaCertificateName, CaCertificateRecord};
use crate::error::StoreError;
use crate::hub::{HubRecord, SharedAccessPolicy};
use crate::identity::{DeviceCounts, DeviceRecord};
use crate::precondition::Precondition;
use crate::session::PersistentSession;
use crate::twin::TwinRecord;

/// What every storage call returns. Once it resolves `Ok`, the change is durable.
pub type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'static>>;

/// The hubs this server hosts and their shared access policies.
pub trait HubCatalog: Send + Sync + 'static {
    /// Inserts a hub; `Conflict` if the name exists or the host name belongs to another hub.
    fn put_hub(&self, hub: HubRecord) -> StoreFuture<()>;
    /// Every hub, ordered by name.
    fn hubs(&self) -> StoreFuture<Vec<HubRecord>>;
    /// Replaces the settings of the hub named `hub.name` (everything but its name, host name
    /// and creation time, which never change); `NotFound` if there is no such hub.
    fn update_hub(&self, hub: HubRecord) -> StoreFuture<()>;
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
    /// Every thumbprint (primary and secondary, as stored) of every `selfSigned` device or
    /// module in every hub, in no particular order: what the TLS layer lets through for a
    /// certificate whose chain reaches no verified CA.
    fn self_signed_thumbprints(&self) -> StoreFuture<Vec<String>>;
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

/// Device and module twins, compare-and-swap on the twin version.
pub trait Twins: Send + Sync + 'static {
    fn get_twin(&self, hub: HubName, identity: Identity) -> StoreFuture<Option<TwinRecord>>;
    /// `expected_version` `None` inserts (`Conflict` if a twin exists); `Some(v)` replaces only
    /// when the stored version is `v` (`PreconditionFailed` otherwise, `NotFound` if there is
    /// no twin). Either way `NotFound` when the identity is not registered. Deleting an
    /// identity deletes its twin.
    fn put_twin(&self, record: TwinRecord, expected_version: Option<u64>) -> StoreFuture<()>;
    /// Every twin of the hub: devices only (`modules == false`) or modules only, ordered by
    /// (device id, module id).
    fn list_twins(&self, hub: HubName, modules: bool) -> StoreFuture<Vec<TwinRecord>>;
}

/// Per-device cloud-to-device queues. Deleting a device deletes its queue.
pub trait C2dQueues: Send + Sync + 'static {
    /// Appends to the device's queue. `QueueFull` when it already holds `max_depth`
    /// messages; `NotFound` when the device is not registered.
    fn enqueue_c2d(&self, message: C2dMessage, max_depth: usize) -> StoreFuture<()>;
    /// The queue, oldest first, at most `limit` messages.
    fn peek_c2d(
        &self,
        hub: HubName,
        device: DeviceId,
        limit: usize,
    ) -> StoreFuture<Vec<C2dMessage>>;
    /// Records a delivery attempt's new count; `NotFound` if the message is gone.
    fn set_c2d_delivery_count(
        &self,
        hub: HubName,
        device: DeviceId,
        lock_token: String,
        delivery_count: u32,
    ) -> StoreFuture<()>;
    /// Removes one message (completed, expired or dead-lettered); `None` if it was not there.
    fn remove_c2d(
        &self,
        hub: HubName,
        device: DeviceId,
        lock_token: String,
    ) -> StoreFuture<Option<C2dMessage>>;
    /// Removes every queued message; returns how many.
    fn purge_c2d(&self, hub: HubName, device: DeviceId) -> StoreFuture<u64>;
    fn count_c2d(&self, hub: HubName, device: DeviceId) -> StoreFuture<u64>;
}

/// The hub's delivery-feedback queue (`iothub-ack`).
pub trait Feedback: Send + Sync + 'static {
    fn add_feedback(&self, hub: HubName, records: Vec<FeedbackRecord>) -> StoreFuture<()>;
    /// Locks up to `max` records that are unlocked or whose lock expired (at `now_ms`) for
    /// `lock_ms`, oldest first; `None` when there are none.
    fn lock_feedback(
        &self,
        hub: HubName,
        now_ms: i64,
        lock_ms: i64,
        max: usize,
    ) -> StoreFuture<Option<FeedbackBatch>>;
    /// Deletes the batch's records; false if the lock token is unknown or its lock expired.
    fn complete_feedback(&self, hub: HubName, lock_token: String, now_ms: i64)
    -> StoreFuture<bool>;
    /// Unlocks the batch's records so another receive gets them.
    fn abandon_feedback(&self, hub: HubName, lock_token: String) -> StoreFuture<bool>;
}

/// Each hub's CA certificates (CA-signed device authentication), compare-and-swap on etag.
pub trait CaCertificates: Send + Sync + 'static {
    /// Inserts; `Conflict` when (hub, name) exists, `NotFound` when the hub does not.
    fn create_ca_certificate(&self, record: CaCertificateRecord) -> StoreFuture<()>;
    /// Replaces the certificate with the same (hub, name) if its stored etag passes
    /// `precondition`; `NotFound` when missing, `PreconditionFailed` on mismatch. The caller
    /// sets the new etag in `record`.
    fn update_ca_certificate(
        &self,
        record: CaCertificateRecord,
        precondition: Precondition,
    ) -> StoreFuture<()>;
    fn get_ca_certificate(
        &self,
        hub: HubName,
        name: CaCertificateName,
    ) -> StoreFuture<Option<CaCertificateRecord>>;
    /// A hub's certificates, ordered by name.
    fn list_ca_certificates(&self, hub: HubName) -> StoreFuture<Vec<CaCertificateRecord>>;
    /// Deletes one; `NotFound` / `PreconditionFailed` as above. Returns the deleted record.
    fn delete_ca_certificate(
        &self,
        hub: HubName,
        name: CaCertificateName,
        precondition: Precondition,
    ) -> StoreFuture<CaCertificateRecord>;
}

/// Everything the server needs from a backend.
pub trait Store:
    HubCatalog + Registry + Sessions + Twins + C2dQueues + Feedback + CaCertificates
{
}

impl<T: HubCatalog + Registry + Sessions + Twins + C2dQueues + Feedback + CaCertificates> Store
    for T
{
}
