//! `HubError`: what can go wrong in the hub, in IoT Hub's own terms. Each transport maps it
//! to the wire once (the REST API to a status and error code, the gateway to a close).

use ferrohub_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("The device {0} does not exist")]
    DeviceNotFound(String),
    #[error("The module {1} on device {0} does not exist")]
    ModuleNotFound(String, String),
    #[error("A device with id {0} already exists")]
    DeviceAlreadyExists(String),
    #[error("A module with id {1} already exists on device {0}")]
    ModuleAlreadyExists(String, String),
    #[error("The etag in If-Match does not match the current one")]
    PreconditionFailed,
    #[error("{0}")]
    InvalidArgument(String),
    #[error("The message is larger than {limit} bytes")]
    MessageTooLarge { limit: usize },
    #[error("No hub answers to the host name {0}")]
    HubNotFound(String),
    #[error("A hub named {0} or with that host name already exists")]
    HubAlreadyExists(String),
    #[error("The storage is unavailable: {0}")]
    Unavailable(String),
    #[error("The device {0} is not online or not subscribed to direct methods")]
    DeviceNotOnline(String),
    #[error("{0}")]
    GatewayTimeout(String),
    #[error("{0}")]
    Throttled(String),
    #[error("The cloud-to-device queue of {0} already holds its maximum of {1} messages")]
    QueueFull(String, usize),
    #[error("The certificate {0} does not exist")]
    CertificateNotFound(String),
    #[error("A certificate named {0} already exists; replace it with its etag in If-Match")]
    CertificateAlreadyExists(String),
}

impl From<StoreError> for HubError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::PreconditionFailed => Self::PreconditionFailed,
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl From<ferrohub_log::LogError> for HubError {
    fn from(e: ferrohub_log::LogError) -> Self {
        Self::Unavailable(e.to_string())
    }
}
