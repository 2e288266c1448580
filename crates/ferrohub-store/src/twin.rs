//! A stored twin: the document is opaque JSON to the store (its rules live in ferrohub-core);
//! the store only compares versions for compare-and-swap.

use ferrohub_protocol::ids::{HubName, Identity};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TwinRecord {
    pub hub: HubName,
    pub identity: Identity,
    /// The twin's version; a write succeeds only against the version it read.
    pub version: u64,
    pub document: serde_json::Value,
}
