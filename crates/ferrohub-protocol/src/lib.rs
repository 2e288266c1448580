//! IoT Hub's device-facing MQTT dialect, with no runtime and no clock.
//!
//! - [`ids`]: identifier newtypes (`DeviceId`, `ModuleId`, `HubName`, `Identity`).
//! - [`sas`]: SAS token text: parse, sign, verify the HMAC.
//! - [`username`]: the CONNECT username `{host}/{client id}/?{query}`.
//! - [`property_bag`]: the URL-encoded property bags carried in topic names.
//! - [`topic`]: topic names and filters, parsed once into typed enums.
//! - [`telemetry`]: a device-to-cloud message as the session hands it to the hub.
//! - [`session`]: the sans-IO `DeviceSession` state machine (packets in, packets and hub
//!   requests out, time given as `now`).
//!
//! Invariant: nothing here performs I/O or reads the clock.

#![forbid(unsafe_code)]

pub mod ids;
pub mod property_bag;
pub mod sas;
pub mod session;
pub mod telemetry;
pub mod topic;
pub mod username;

pub use ids::*;
