//! Settings, layered: defaults, then `ferrohub.toml` (or `--config`), then `FERROHUB_*`
//! environment variables, then flags (clap reads env and flags; the file fills what they left).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The file form. Every field is optional; missing ones take defaults.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub hostnames: Option<Vec<String>>,
    pub bind: Option<IpAddr>,
    pub mqtt_port: Option<u16>,
    pub https_port: Option<u16>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub telemetry_partitions: Option<u32>,
    pub telemetry_retention_hours: Option<u32>,
    pub telemetry_journal_mib: Option<u32>,
    pub log: Option<String>,
    /// IoT Hub's IP filter: ordered rules, first match wins, no match accepts.
    pub ip_filter: Option<Vec<IpFilterRuleConfig>>,
}

/// One `[[ip_filter]]` rule.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IpFilterRuleConfig {
    pub name: String,
    /// `accept` or `reject`.
    pub action: String,
    /// An address or CIDR block, e.g. `10.0.0.0/8`.
    pub mask: String,
}

impl IpFilterRuleConfig {
    pub fn to_rule(&self) -> anyhow::Result<ferrohub_gateway::ip_filter::FilterRule> {
        use ferrohub_gateway::ip_filter::{FilterAction, FilterRule};
        let action = match self.action.to_ascii_lowercase().as_str() {
            "accept" => FilterAction::Accept,
            "reject" => FilterAction::Reject,
            other => anyhow::bail!(
                "IP filter rule {}: action must be accept or reject, not {other:?}",
                self.name
            ),
        };
        Ok(FilterRule::new(self.name.clone(), action, &self.mask)?)
    }
}

impl FileConfig {
    /// Reads `path`, or `./ferrohub.toml` when it exists; an explicit path must exist.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("ferrohub.toml"), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .with_context(|| format!("{} is not a valid ferrohub.toml", path.display())),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
}

/// The resolved settings of `ferrohub serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub data_dir: PathBuf,
    pub hostnames: Vec<String>,
    pub bind: IpAddr,
    pub mqtt_port: u16,
    pub https_port: u16,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub telemetry_partitions: u32,
    pub telemetry_retention_hours: u32,
    pub telemetry_journal_mib: u32,
    pub ip_filter: ferrohub_gateway::ip_filter::IpFilter,
}

/// IoT Hub keeps built-in endpoint telemetry at most 7 days.
pub const MAX_RETENTION_HOURS: u32 = 7 * 24;

/// The telemetry log's commit journal, in MiB: the default and the largest accepted.
pub const DEFAULT_JOURNAL_MIB: u32 = 16;
pub const MAX_JOURNAL_MIB: u32 = 1024;

pub const DEFAULT_DATA_DIR: &str = "./ferrohub-data";

/// The commented example `ferrohub config default` prints.
pub const EXAMPLE: &str = r#"# ferrohub.toml: every setting is optional; shown with its default.
# Precedence: flags, then FERROHUB_* environment variables, then this file, then defaults.

# Where the database, telemetry log, CA and certificates live (FERROHUB_DATA_DIR).
data_dir = "./ferrohub-data"

# Host names devices and services use; the first is the default hub's host name, and the
# server certificate covers all of them plus 127.0.0.1 and ::1 (FERROHUB_HOSTNAME).
hostnames = ["localhost"]

# Address to listen on (FERROHUB_BIND).
bind = "0.0.0.0"

# MQTT over TLS (FERROHUB_MQTT_PORT) and HTTPS REST (FERROHUB_HTTPS_PORT). When 443 cannot be
# bound without privileges, ferrohub falls back to 8443 and says so.
mqtt_port = 8883
https_port = 443

# Your own certificate chain and key (PEM) instead of the generated development ones.
# tls_cert = "/etc/ferrohub/server.pem"
# tls_key = "/etc/ferrohub/server.key"

# Built-in telemetry endpoint: partitions (fixed once created) and retention (1 to 168 hours).
telemetry_partitions = 4
telemetry_retention_hours = 24

# The telemetry log's commit journal (1 to 1024 MiB per hub, on disk as it fills). It holds
# a copy of every message until the partition files are synced; when full, every partition
# file is synced once (a pause of some milliseconds) and it starts over. Larger: rarer pauses.
telemetry_journal_mib = 16

# Log filter, in tracing-subscriber's EnvFilter syntax (FERROHUB_LOG).
log = "info"

# IoT Hub's IP filter: rules in order, the first whose mask matches the client's address
# decides; an address no rule matches is accepted. Refused clients get CONNACK 5 or HTTP 401.
# [[ip_filter]]
# name = "office"
# action = "accept"
# mask = "10.1.0.0/16"
# [[ip_filter]]
# name = "everyone-else"
# action = "reject"
# mask = "0.0.0.0/0"
"#;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_example_is_a_valid_config_file() {
        let parsed: FileConfig = toml::from_str(EXAMPLE).unwrap();
        assert_eq!(parsed.mqtt_port, Some(8883));
        assert_eq!(parsed.hostnames, Some(vec!["localhost".to_owned()]));
    }
}
