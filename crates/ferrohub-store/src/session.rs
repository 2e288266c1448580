//! The persisted part of an MQTT clean-session=false connection: what it subscribed to.

use ferrohub_protocol::ids::{HubName, Identity};
use serde::{Deserialize, Serialize};

/// Subscriptions that must survive a reconnect (and a server restart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistentSession {
    pub hub: HubName,
    pub identity: Identity,
    /// Topic filters exactly as the client subscribed them.
    pub subscriptions: Vec<String>,
    /// RFC 3339.
    pub updated_time: String,
}
