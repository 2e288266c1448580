//! The command line, as clap types. Settings read flags first, then `FERROHUB_*`.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ferrohub",
    version,
    about = "A self-hosted server for Azure IoT Hub devices and back ends"
)]
pub struct Cli {
    /// The data directory (database, telemetry, CA). Default ./ferrohub-data.
    #[arg(long, global = true, env = "FERROHUB_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Service connection string for commands that call the REST API (else the owner policy
    /// from --data-dir is used).
    #[arg(
        long,
        global = true,
        env = "FERROHUB_CONNECTION_STRING",
        hide_env_values = true
    )]
    pub connection_string: Option<String>,

    /// CA certificate to trust for the REST API (default <data-dir>/ca.pem).
    #[arg(long, global = true, env = "FERROHUB_CA")]
    pub ca: Option<PathBuf>,

    /// Address of the REST API when it is not the connection string's host on the port the
    /// server recorded in the data directory, e.g. 127.0.0.1:8443.
    #[arg(long, global = true, env = "FERROHUB_API_ADDRESS")]
    pub api_address: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Hubs and their connection strings.
    #[command(subcommand)]
    Hub(HubCommand),
    /// Device identities.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// The hub's CA certificates, for CA-signed X.509 devices (upload, proof of possession).
    #[command(subcommand)]
    Ca(CaCommand),
    /// Print a device or module SAS token.
    SasToken(SasTokenArgs),
    /// Print telemetry from the built-in endpoint, like `az iot hub monitor-events`.
    Monitor(MonitorArgs),
    /// Direct methods.
    #[command(subcommand)]
    Method(MethodCommand),
    /// Device and module twins.
    #[command(subcommand)]
    Twin(TwinCommand),
    /// Cloud-to-device messages.
    #[command(subcommand)]
    C2d(C2dCommand),
    /// Query twins with IoT Hub's query language, e.g. "SELECT * FROM devices WHERE tags.site = 'a'".
    Query {
        query: String,
        /// Page size asked of the server (1 to 100); all pages are printed.
        #[arg(long, default_value_t = 100)]
        page_size: usize,
    },
    /// Check the data directory (database and telemetry logs) without changing it; run it
    /// with the server stopped, e.g. after a crash.
    Check,
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Host name devices and services use (repeatable; the first is the default hub's).
    #[arg(long = "hostname", env = "FERROHUB_HOSTNAME", value_delimiter = ',')]
    pub hostnames: Vec<String>,
    #[arg(long, env = "FERROHUB_MQTT_PORT")]
    pub mqtt_port: Option<u16>,
    #[arg(long, env = "FERROHUB_HTTPS_PORT")]
    pub https_port: Option<u16>,
    #[arg(long, env = "FERROHUB_BIND")]
    pub bind: Option<IpAddr>,
    /// A ferrohub.toml to read (default ./ferrohub.toml when present).
    #[arg(long, env = "FERROHUB_CONFIG")]
    pub config: Option<PathBuf>,
    /// Your own server certificate chain (PEM) instead of the generated one.
    #[arg(long, env = "FERROHUB_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) for --tls-cert.
    #[arg(long, env = "FERROHUB_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum HubCommand {
    /// Print a service connection string (read from --data-dir).
    ConnectionString {
        /// The shared access policy.
        #[arg(long, default_value = "iothubowner")]
        policy: String,
        /// The hub (default: the default hub).
        #[arg(long)]
        hub: Option<String>,
    },
    /// Create another hub with its own host name, policies and registry.
    Create {
        name: String,
        #[arg(long)]
        hostname: String,
    },
    /// Show a hub and its settings as JSON.
    Show { name: String },
    /// Change a hub's settings (with the hub's owner policy from --data-dir, unless
    /// --connection-string is given).
    Update {
        name: String,
        /// Refuse SAS tokens from device identities (IoT Hub's disableDeviceSAS); X.509
        /// devices still connect.
        #[arg(long, action = clap::ArgAction::Set)]
        disable_device_sas: Option<bool>,
        /// Refuse SAS tokens from module identities (IoT Hub's disableModuleSAS).
        #[arg(long, action = clap::ArgAction::Set)]
        disable_module_sas: Option<bool>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// List the hub's CA certificates.
    List,
    /// Show one as JSON (with its PEM).
    Show { name: String },
    /// Upload a CA certificate (PEM or DER file); it must then be verified.
    Upload {
        name: String,
        file: PathBuf,
        /// Mark it verified without a proof of possession (as ARM allows).
        #[arg(long)]
        verified: bool,
        /// Replace a certificate of that name (its proof of possession starts over).
        #[arg(long)]
        replace: bool,
    },
    /// Print a new verification code: sign a certificate with CN=<code> using the CA's key,
    /// then run `ferrohub ca verify`.
    VerificationCode { name: String },
    /// Complete the proof of possession with the certificate signed for the code.
    Verify { name: String, file: PathBuf },
    /// Delete a CA certificate; devices it vouched for can no longer connect.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Create a device (keys are generated unless given).
    Create {
        id: String,
        #[arg(long, requires = "secondary_key")]
        primary_key: Option<String>,
        #[arg(long, requires = "primary_key")]
        secondary_key: Option<String>,
        #[arg(long)]
        disabled: bool,
    },
    /// Show a device as JSON.
    Show { id: String },
    /// Delete a device.
    Delete { id: String },
    /// List devices.
    List,
    /// Print the device's connection string (primary key).
    ConnectionString { id: String },
}

#[derive(Debug, Args)]
pub struct SasTokenArgs {
    #[arg(long)]
    pub device: String,
    #[arg(long)]
    pub module: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: u64,
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Only this device (and its modules).
    #[arg(long)]
    pub device: Option<String>,
    /// The consumer group; its checkpoints are committed as events are printed.
    #[arg(long)]
    pub consumer_group: Option<String>,
    /// earliest, latest, or an RFC 3339 time. Default: the consumer group's checkpoint when
    /// --consumer-group is given, else latest.
    #[arg(long)]
    pub from: Option<String>,
    /// Exit after this many seconds without an event.
    #[arg(long)]
    pub timeout: Option<u64>,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Also print IoT Hub's own events: connection state, identity lifecycle, twin changes.
    #[arg(long)]
    pub include_events: bool,
}

#[derive(Debug, Subcommand)]
pub enum C2dCommand {
    /// Queue a message for a device.
    Send(C2dSendArgs),
    /// Delete every message queued for a device.
    Purge { device: String },
    /// Print pending delivery feedback (one JSON object per line) and complete it.
    Feedback {
        /// Leave the feedback for another reader (abandon instead of complete).
        #[arg(long)]
        peek: bool,
    },
}

#[derive(Debug, Args)]
pub struct C2dSendArgs {
    pub device: String,
    /// The message body, as text.
    #[arg(long)]
    pub data: String,
    /// An application property, K=V (repeatable).
    #[arg(long = "property", value_name = "K=V")]
    pub properties: Vec<String>,
    #[arg(long)]
    pub message_id: Option<String>,
    #[arg(long)]
    pub correlation_id: Option<String>,
    #[arg(long)]
    pub content_type: Option<String>,
    #[arg(long)]
    pub content_encoding: Option<String>,
    /// Delivery feedback: none, positive, negative or full.
    #[arg(long, default_value = "none")]
    pub ack: String,
    /// Time to live in seconds (default 3600, at most 172800).
    #[arg(long)]
    pub ttl: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum TwinCommand {
    /// Print a twin as JSON.
    Show {
        device: String,
        #[arg(long)]
        module: Option<String>,
    },
    /// Merge tags and desired properties into the twin (JSON merge patch; null deletes).
    Update(TwinWriteArgs),
    /// Replace the twin's tags and desired properties.
    Replace(TwinWriteArgs),
}

#[derive(Debug, Args)]
pub struct TwinWriteArgs {
    pub device: String,
    #[arg(long)]
    pub module: Option<String>,
    /// Desired properties, as a JSON object.
    #[arg(long)]
    pub desired: Option<String>,
    /// Tags, as a JSON object.
    #[arg(long)]
    pub tags: Option<String>,
    /// Only if the twin's etag is still this one.
    #[arg(long)]
    pub etag: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum MethodCommand {
    /// Call a direct method and print the device's answer as JSON.
    Invoke {
        device: String,
        name: String,
        /// The payload, as JSON (default null).
        #[arg(long)]
        payload: Option<String>,
        /// Seconds to wait for the answer (5 to 300).
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        /// Seconds to wait for the device to come online (0 to 300).
        #[arg(long, default_value_t = 0)]
        connect_timeout: u64,
        /// Call a module of the device.
        #[arg(long)]
        module: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a commented ferrohub.toml with every default.
    Default,
}
