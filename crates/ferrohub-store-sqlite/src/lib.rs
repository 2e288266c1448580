//! The embedded default storage backend: everything in one SQLite file.
//!
//! It needs no separate server, which suits a self-hosted hub; the traits in `ferrohub-store`
//! leave room for a networked backend when one process is not enough.

mod c2d;
mod ca_certificates;
mod catalog;
mod connection;
mod errors;
mod feedback;
mod integrity;
mod keys;
mod migrations;
mod registry;
mod sessions;
mod store;
mod twins;

pub use integrity::integrity_problems;
pub use migrations::SCHEMA_VERSION;
pub use store::SqliteStore;
