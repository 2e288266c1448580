//! The REST API served on the HTTPS port.
//!
//! - [`router`]: every route, and the shared state.
//! - [`error`]: the one place `HubError` and auth failures become HTTP statuses and IoT Hub
//!   error bodies (`{"Message":"ErrorCode:<Name>;…"}` plus the `iothub-errorcode` header).
//! - [`auth`]: the service SAS extractor.
//! - [`devices`], [`modules`], [`statistics`]: IoT Hub's registry API (api-version 2021-04-12).
//! - [`wire`]: IoT Hub's JSON shapes for devices and modules.
//! - [`twins`]: device and module twins (`/twins/{id}`).
//! - [`c2d`]: cloud-to-device send (our extension), purge, delivery feedback.
//! - [`query`]: `POST /devices/query` (IoT Hub's twin query language).
//! - [`methods`]: direct method invocation (`POST /twins/{id}/methods`).
//! - [`telemetry`]: our extension for reading the built-in telemetry endpoint (NDJSON stream,
//!   consumer groups, checkpoints).
//! - [`hubs`]: our extension for creating hubs and changing their settings
//!   (`disableDeviceSAS`).
//! - [`certificates`]: our extension for each hub's CA certificates and their proof of
//!   possession (ARM's certificates resource).
//! - [`openapi`]: `/openapi.json`, checked against the router by a test.
//!
//! Invariant: a 2xx is sent only after the change it reports is durable in the store.

#![forbid(unsafe_code)]

pub mod auth;
pub mod c2d;
pub mod certificates;
pub mod devices;
pub mod error;
pub mod hubs;
pub mod methods;
pub mod modules;
pub mod openapi;
pub mod query;
pub mod router;
pub mod statistics;
pub mod telemetry;
pub mod twins;
pub mod wire;

pub use router::{ApiState, router};
