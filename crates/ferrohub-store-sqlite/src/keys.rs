//! How an `Identity` maps onto the (device_id, module_id) key columns shared by the
//! identities and sessions tables.

use ferrohub_store::Identity;

/// The `module_id` column value; `''` stands for the device itself, because SQLite treats
/// NULLs as distinct in primary keys and so could not keep devices unique with them.
pub(crate) fn module_key(identity: &Identity) -> &str {
    identity.module_id.as_ref().map_or("", |m| m.as_str())
}
