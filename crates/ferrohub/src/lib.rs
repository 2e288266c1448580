//! The `ferrohub` binary's library half: the composition root and the CLI.
//!
//! - [`config`]: the layered settings (defaults, `ferrohub.toml`, `FERROHUB_*`, flags).
//! - [`pki`]: the development CA and server certificate in the data directory.
//! - [`hub_certificates`]: certificates for hubs created while running, issued by that CA
//!   when a TLS handshake first names them.
//! - [`server`]: `run(...)` wires store, log, hub, gateway and API on bound listeners, so a
//!   test boots a real server on port 0.
//! - [`client`]: a small HTTPS client of our own REST API, trusting the data dir's CA.
//! - [`commands`]: the CLI commands, each a typed client of the REST API.
//!
//! This is the only crate that chooses backends (SQLite, segment-file log).

#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod connection_string;
pub mod hub_certificates;
pub mod pki;
pub mod server;
