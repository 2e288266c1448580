//! Storage for ferrohub: the records a hub persists and the traits a backend implements.
//!
//! The server only ever talks to `dyn Store`, so the embedded SQLite backend can be swapped
//! for another (e.g. PostgreSQL) without touching protocol or API code. The `conformance`
//! feature exposes a behavioural test suite that every backend runs against itself.

mod c2d;
mod ca_certificate;
mod error;
mod hub;
mod identity;
mod precondition;
mod rights;
mod session;
mod traits;
mod twin;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use c2d::{C2dMessage, FeedbackBatch, FeedbackRecord};
pub use ca_certificate::{CaCertificateName, CaCertificateRecord, InvalidCaCertificateName};
pub use error::StoreError;
pub use hub::{HubRecord, SharedAccessPolicy};
pub use identity::{
    AuthenticationType, DeviceAuthentication, DeviceCounts, DeviceRecord, DeviceStatus,
};
pub use precondition::Precondition;
pub use rights::{AccessRights, Rights, UnknownRight};
pub use session::PersistentSession;
pub use traits::{
    C2dQueues, CaCertificates, Feedback, HubCatalog, Registry, Sessions, Store, StoreFuture, Twins,
};
pub use twin::TwinRecord;

// Re-exported so backends and callers name the same id types as the traits.
pub use ferrohub_protocol::ids::{DeviceId, HubName, Identity, ModuleId};
