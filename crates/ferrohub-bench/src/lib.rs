//! `ferrohub-bench`: simulated devices over the real protocol, for measuring a server.
//!
//! The devices speak MQTT 3.1.1 through our own codec (`ferrohub-mqtt`) over tokio-rustls,
//! against either ferrohub (devices are created through its REST API and sign in with SAS
//! tokens, as IoT Hub devices do) or a plain MQTT broker such as Mosquitto, so both can be
//! measured with the same client on the same machine.
//!
//! - [`cli`]: the command line and its validation.
//! - [`target`]: where to connect and who the simulated devices are.
//! - [`conn`]: one MQTT connection over TLS.
//! - [`fleet`]: many connections, with bounded concurrent handshakes and a rate cap.
//! - [`telemetry`] and [`idle`]: MQTT scenarios for ferrohub or a broker.
//! - [`twin`], [`method`] and [`c2d`]: ferrohub's device features; [`service`] is their
//!   keep-alive REST client, [`pacing`] spaces method calls, [`ops`] adds up operations.
//! - [`procfs`] and [`sampler`]: the server's CPU time and RSS from `/proc`.
//! - [`stats`] and [`report`]: percentiles and the printed results.

#![forbid(unsafe_code)]

pub mod c2d;
pub mod cli;
pub mod conn;
pub mod feature;
pub mod fleet;
pub mod idle;
pub mod method;
pub mod ops;
pub mod pacing;
pub mod procfs;
pub mod report;
pub mod sampler;
pub mod service;
pub mod stats;
pub mod target;
pub mod telemetry;
pub mod twin;

use cli::{Cli, Scenario};
use report::Report;

/// Runs the scenario the command line asks for and returns its results.
pub async fn run(cli: Cli) -> anyhow::Result<Report> {
    match cli.scenario {
        Scenario::Telemetry(args) => telemetry::run(args).await,
        Scenario::Idle(args) => idle::run(args).await,
        Scenario::Twin(args) => twin::run(args).await,
        Scenario::Method(args) => method::run(args).await,
        Scenario::C2d(args) => c2d::run(args).await,
    }
}
