//! The one error type every storage operation returns, so callers map outcomes to HTTP/MQTT
//! answers without knowing which backend is underneath.

/// Why a storage operation did not happen.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The addressed hub, device, module or session does not exist.
    #[error("not found")]
    NotFound,
    /// A record with the same key (or a unique field such as a hub's host name) already exists.
    #[error("already exists")]
    Conflict,
    /// The stored etag does not match the caller's `If-Match`.
    #[error("precondition failed: the etag does not match")]
    PreconditionFailed,
    /// A per-device cloud-to-device queue already holds its maximum.
    #[error("the queue is full")]
    QueueFull,
    /// The backend could not do its job (I/O, corruption, database errors); retrying may help.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}
