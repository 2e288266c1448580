//! The command line: a scenario, the target to measure, and the load's shape.
//!
//! Clap checks types; [`Cli::validate`] checks the combinations clap cannot express, before
//! any device is created, so a typo never leaves half-provisioned devices behind.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ferrohub-bench",
    version,
    about = "Simulated MQTT devices against ferrohub or a plain MQTT broker"
)]
pub struct Cli {
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// N devices each publish M messages of S bytes at QoS 1, W in flight per connection.
    Telemetry(TelemetryArgs),
    /// Open N connections and hold them idle, measuring the server's memory per connection.
    Idle(IdleArgs),
    /// N devices each make M twin requests over MQTT, alternating GET and PATCH reported,
    /// W in flight per connection (ferrohub only).
    Twin(TwinArgs),
    /// Direct methods: the service calls N devices at R calls/s over REST, the devices
    /// answer at once; measures the round trip (ferrohub only).
    Method(MethodArgs),
    /// Cloud-to-device: the service queues M messages per device over REST, N devices
    /// receive and complete them; measures send-to-PUBACK (ferrohub only).
    C2d(C2dArgs),
}

#[derive(Debug, Args)]
pub struct TelemetryArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Messages per device.
    #[arg(long, default_value_t = 100)]
    pub messages: u32,
    /// Payload bytes per message.
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// PUBLISHes each connection keeps un-acknowledged (1 = publish, wait for PUBACK, next).
    #[arg(long, default_value_t = 1)]
    pub inflight: u16,
}

#[derive(Debug, Args)]
pub struct IdleArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Seconds to hold all connections open once they are connected.
    #[arg(long, default_value_t = 20)]
    pub hold: u64,
}

#[derive(Debug, Args)]
pub struct TwinArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Twin requests per device (GET and PATCH reported, alternating).
    #[arg(long, default_value_t = 100)]
    pub ops: u32,
    /// Requests each connection keeps unanswered.
    #[arg(long, default_value_t = 1)]
    pub inflight: u16,
}

#[derive(Debug, Args)]
pub struct MethodArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Calls per second the service sends, spread over the devices in turn.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Seconds to keep calling (ignored with --calls).
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Exact number of calls to make instead of rate x duration.
    #[arg(long)]
    pub calls: Option<u64>,
    /// Keep-alive HTTPS connections the service side uses.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
}

#[derive(Debug, Args)]
pub struct C2dArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Messages per device.
    #[arg(long, default_value_t = 100)]
    pub messages: u32,
    /// Messages per device sent but not yet completed by the device (IoT Hub's queue holds
    /// at most 50).
    #[arg(long, default_value_t = 10)]
    pub outstanding: u32,
    /// Keep-alive HTTPS connections the service side uses.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
}

/// ferrohub's cloud-to-device queue depth limit (the 51st pending message is refused).
pub const MAX_C2D_QUEUE: u32 = 50;

/// Which server, and how to reach it.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Measure a plain MQTT broker (client ids bench-<i>, topic bench/<i>/telemetry) instead
    /// of ferrohub.
    #[arg(long)]
    pub broker: bool,
    /// ferrohub's service connection string (devices are created and deleted through it).
    #[arg(long)]
    pub hub_connection_string: Option<String>,
    /// ferrohub's REST API, host:port.
    #[arg(long)]
    pub api_address: Option<String>,
    /// The MQTT over TLS endpoint, host:port.
    #[arg(long, default_value = "127.0.0.1:8883")]
    pub mqtt_address: String,
    /// The CA certificate (PEM) that signed the server's certificate.
    #[arg(long)]
    pub ca: PathBuf,
    /// TLS server name (SNI and certificate check). Default: the connection string's
    /// HostName for ferrohub, the --mqtt-address host for a broker.
    #[arg(long)]
    pub tls_server_name: Option<String>,
    /// Broker user name (ferrohub devices use their IoT Hub user name).
    #[arg(long)]
    pub username: Option<String>,
    /// Broker password.
    #[arg(long)]
    pub password: Option<String>,
    /// Leave the created devices in ferrohub's registry afterwards.
    #[arg(long)]
    pub keep_devices: bool,
}

/// Shape of the load and what to observe, shared by all scenarios.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Simulated devices (one connection each).
    #[arg(long, default_value_t = 10)]
    pub devices: usize,
    /// Cap on new connections per second (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    pub connect_rate: u32,
    /// TLS handshakes in progress at once, so thousands of connects do not stampede.
    #[arg(long, default_value_t = 64)]
    pub handshakes: usize,
    /// The server's process id: report its CPU time and RSS from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// MQTT keep-alive in seconds (PINGREQ is sent every half of it while idle).
    #[arg(long, default_value_t = 60)]
    pub keep_alive: u16,
    /// Seconds to wait for any one answer (CONNACK, PUBACK) before counting a failure.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Also print the results as one JSON line on stdout (the text goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// IoT Hub's device-to-cloud message limit.
pub const MAX_MESSAGE_SIZE: usize = 256 * 1024;

impl Cli {
    pub fn common(&self) -> &CommonArgs {
        match &self.scenario {
            Scenario::Telemetry(a) => &a.common,
            Scenario::Idle(a) => &a.common,
            Scenario::Twin(a) => &a.common,
            Scenario::Method(a) => &a.common,
            Scenario::C2d(a) => &a.common,
        }
    }

    fn target(&self) -> &TargetArgs {
        match &self.scenario {
            Scenario::Telemetry(a) => &a.target,
            Scenario::Idle(a) => &a.target,
            Scenario::Twin(a) => &a.target,
            Scenario::Method(a) => &a.target,
            Scenario::C2d(a) => &a.target,
        }
    }

    /// Refuses combinations that cannot run.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.target().validate()?;
        self.common().validate()?;
        match &self.scenario {
            Scenario::Telemetry(a) => {
                if a.messages == 0 {
                    bail!("--messages must be at least 1");
                }
                if a.size > MAX_MESSAGE_SIZE {
                    bail!("--size must be at most {MAX_MESSAGE_SIZE} (IoT Hub's message limit)");
                }
                // Packet ids are 16-bit and 0 is not allowed: clap already refuses above 65535.
                if a.inflight == 0 {
                    bail!("--inflight must be 1 to 65535");
                }
            }
            Scenario::Idle(_) => {}
            Scenario::Twin(a) => {
                if a.ops == 0 || a.inflight == 0 {
                    bail!("--ops and --inflight must be at least 1");
                }
            }
            Scenario::Method(a) => {
                if !(a.rate.is_finite() && a.rate > 0.0) {
                    bail!("--rate must be a positive number of calls per second");
                }
                if a.calls == Some(0) || (a.calls.is_none() && a.duration == 0) {
                    bail!("--calls and --duration must be at least 1");
                }
                if a.connections == 0 {
                    bail!("--connections must be at least 1");
                }
            }
            Scenario::C2d(a) => {
                if a.messages == 0 || a.connections == 0 {
                    bail!("--messages and --connections must be at least 1");
                }
                if a.outstanding == 0 || a.outstanding > MAX_C2D_QUEUE {
                    bail!("--outstanding must be 1 to {MAX_C2D_QUEUE} (the hub's queue limit)");
                }
            }
        }
        if self.target().broker
            && !matches!(self.scenario, Scenario::Telemetry(_) | Scenario::Idle(_))
        {
            bail!("twin, method and c2d are IoT Hub features: they need ferrohub, not --broker");
        }
        Ok(())
    }
}

impl TargetArgs {
    fn validate(&self) -> anyhow::Result<()> {
        if self.broker {
            if self.hub_connection_string.is_some() || self.api_address.is_some() {
                bail!("--broker takes no --hub-connection-string or --api-address");
            }
            if self.password.is_some() && self.username.is_none() {
                bail!("--password needs --username (MQTT 3.1.1 has no password alone)");
            }
        } else {
            if self.hub_connection_string.is_none() || self.api_address.is_none() {
                bail!(
                    "measuring ferrohub needs --hub-connection-string and --api-address (or pass --broker)"
                );
            }
            if self.username.is_some() || self.password.is_some() {
                bail!("--username/--password are for --broker; ferrohub devices use SAS tokens");
            }
        }
        Ok(())
    }
}

impl CommonArgs {
    fn validate(&self) -> anyhow::Result<()> {
        if self.devices == 0 {
            bail!("--devices must be at least 1");
        }
        if self.handshakes == 0 {
            bail!("--handshakes must be at least 1");
        }
        // Idle connections are kept alive with PINGREQ every keep-alive / 2 seconds.
        if self.keep_alive < 2 {
            bail!("--keep-alive must be at least 2 seconds");
        }
        if self.timeout == 0 {
            bail!("--timeout must be at least 1 second");
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Cli> {
        let cli =
            Cli::try_parse_from(std::iter::once("ferrohub-bench").chain(args.iter().copied()))?;
        cli.validate()?;
        Ok(cli)
    }

    const HUB: [&str; 6] = [
        "--hub-connection-string",
        "HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=a2V5",
        "--api-address",
        "127.0.0.1:443",
        "--ca",
        "ca.pem",
    ];

    fn telemetry(extra: &[&str]) -> anyhow::Result<Cli> {
        let mut args = vec!["telemetry"];
        args.extend(HUB);
        args.extend(extra);
        parse(&args)
    }

    #[test]
    fn a_complete_hub_command_line_is_accepted() {
        let cli = telemetry(&["--devices", "100", "--inflight", "16"]).unwrap();
        let Scenario::Telemetry(a) = cli.scenario else {
            panic!("not telemetry")
        };
        assert_eq!((a.common.devices, a.inflight, a.messages), (100, 16, 100));
    }

    #[test]
    fn shapes_that_cannot_run_are_refused() {
        assert!(telemetry(&["--devices", "0"]).is_err());
        assert!(telemetry(&["--messages", "0"]).is_err());
        assert!(telemetry(&["--inflight", "0"]).is_err());
        assert!(telemetry(&["--inflight", "65536"]).is_err());
        assert!(telemetry(&["--size", "262145"]).is_err());
        assert!(telemetry(&["--size", "262144"]).is_ok());
        assert!(telemetry(&["--keep-alive", "1"]).is_err());
        assert!(telemetry(&["--handshakes", "0"]).is_err());
    }

    #[test]
    fn the_target_must_be_complete_and_unambiguous() {
        // ferrohub needs the REST API; a broker must not get it.
        assert!(parse(&["idle", "--ca", "ca.pem"]).is_err());
        assert!(parse(&["idle", "--broker", "--ca", "ca.pem"]).is_ok());
        let mut both = vec!["idle", "--broker"];
        both.extend(HUB);
        assert!(parse(&both).is_err());
        assert!(parse(&["idle", "--broker", "--ca", "c", "--password", "p"]).is_err());
        assert!(parse(&["idle", "--broker", "--ca", "c", "--username", "u"]).is_ok());
        assert!(telemetry(&["--username", "u"]).is_err());
        assert!(parse(&["twin", "--broker", "--ca", "c"]).is_err());
    }

    fn with_hub(scenario: &str, extra: &[&str]) -> anyhow::Result<Cli> {
        let mut args = vec![scenario];
        args.extend(HUB);
        args.extend(extra);
        parse(&args)
    }

    #[test]
    fn device_feature_shapes_are_checked() {
        assert!(with_hub("twin", &["--ops", "1000", "--inflight", "8"]).is_ok());
        assert!(with_hub("twin", &["--inflight", "0"]).is_err());
        assert!(with_hub("method", &["--rate", "1000", "--duration", "10"]).is_ok());
        assert!(with_hub("method", &["--rate", "0"]).is_err());
        assert!(with_hub("method", &["--calls", "0"]).is_err());
        assert!(with_hub("method", &["--connections", "0"]).is_err());
        assert!(with_hub("c2d", &["--outstanding", "50"]).is_ok());
        assert!(with_hub("c2d", &["--outstanding", "51"]).is_err());
        assert!(with_hub("c2d", &["--messages", "0"]).is_err());
    }
}
