//! The hub: the domain behind every transport.
//!
//! - [`hub`]: the cheap, cloneable `Hub` handle every task calls.
//! - [`directory`]: which hub a host name reaches, and each hub's access policies (cached).
//! - [`device_auth`]: CONNECT credentials to an authenticated identity or a refusal.
//! - [`service_auth`]: service SAS tokens to a principal with rights.
//! - [`registry`]: device and module identities (keys, etags, status).
//! - [`telemetry`]: stamping device messages and appending them to the log.
//! - [`c2d`]: cloud-to-device queues, delivery, completion, feedback.
//! - [`methods`]: direct method calls and their answers.
//! - [`twins`]: twin reads and writes from devices and back ends (rules in [`twin`]).
//! - [`events`]: connection-state, lifecycle and twin-change events into the log.
//! - [`queries`]: `POST /devices/query` over twin documents (language in [`query`]).
//! - [`presence`]: which connection holds which identity; takeover and revocation.
//! - [`ca_certificates`]: each hub's CA certificates and their proof of possession
//!   (parsing in [`certificate`]); [`trusted_cas`]: the verified ones, as the snapshot the
//!   TLS layer reads.
//! - [`hub_settings`]: per-hub settings such as `disableDeviceSAS`.
//! - [`clock`], [`keys`], [`error`].
//!
//! Invariant: no MQTT, HTTP, SQL or NATS crate is imported here. Transports translate into
//! this vocabulary; storage is reached only through `ferrohub-store` / `ferrohub-log` traits.

#![forbid(unsafe_code)]

pub mod c2d;
pub mod ca_certificates;
pub mod certificate;
pub mod clock;
pub mod device_auth;
pub mod directory;
pub mod error;
pub mod events;
pub mod hub;
pub mod hub_settings;
pub mod keys;
pub mod mailbox;
pub mod methods;
pub mod presence;
pub mod queries;
pub mod query;
pub mod registered_thumbprints;
pub mod registry;
pub mod service_auth;
pub mod telemetry;
pub mod trusted_cas;
pub mod twin;
mod twin_cache;
pub mod twins;

pub use error::HubError;
pub use hub::{Hub, HubConfig};
