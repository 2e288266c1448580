//! `ferrohub serve`: resolve settings, prepare the data directory, bind, print how to
//! connect, and run until SIGINT/SIGTERM.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::net::TcpListener;

use super::context::{Context, ServerRecord, server_record_path};
use crate::cli::ServeArgs;
use crate::config::{FileConfig, MAX_RETENTION_HOURS, ServeConfig};
use crate::pki;
use crate::server::{Listeners, ServerOptions, start};

/// The fallback when 443 needs privileges we lack.
const FALLBACK_HTTPS_PORT: u16 = 8443;

fn resolve(ctx_data_dir: Option<PathBuf>, args: ServeArgs) -> anyhow::Result<ServeConfig> {
    let file = FileConfig::load(args.config.as_deref())?;
    let hostnames = if args.hostnames.is_empty() {
        file.hostnames
            .unwrap_or_else(|| vec!["localhost".to_owned()])
    } else {
        args.hostnames
    };
    let retention = file.telemetry_retention_hours.unwrap_or(24);
    let journal_mib = file
        .telemetry_journal_mib
        .unwrap_or(crate::config::DEFAULT_JOURNAL_MIB);
    if journal_mib == 0 || journal_mib > crate::config::MAX_JOURNAL_MIB {
        bail!(
            "telemetry_journal_mib must be 1 to {}",
            crate::config::MAX_JOURNAL_MIB
        );
    }
    let rules = file
        .ip_filter
        .iter()
        .flatten()
        .map(crate::config::IpFilterRuleConfig::to_rule)
        .collect::<anyhow::Result<Vec<_>>>()?;
    if retention == 0 || retention > MAX_RETENTION_HOURS {
        bail!(
            "telemetry_retention_hours must be 1 to {MAX_RETENTION_HOURS} (IoT Hub keeps telemetry at most 7 days)"
        );
    }
    Ok(ServeConfig {
        data_dir: ctx_data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_DATA_DIR)),
        hostnames: hostnames
            .into_iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        bind: args
            .bind
            .or(file.bind)
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        mqtt_port: args.mqtt_port.or(file.mqtt_port).unwrap_or(8883),
        https_port: args.https_port.or(file.https_port).unwrap_or(443),
        tls_cert: args.tls_cert.or(file.tls_cert),
        tls_key: args.tls_key.or(file.tls_key),
        telemetry_partitions: file.telemetry_partitions.unwrap_or(4),
        telemetry_retention_hours: retention,
        telemetry_journal_mib: journal_mib,
        ip_filter: ferrohub_gateway::ip_filter::IpFilter::new(rules),
    })
}

pub async fn serve(ctx: &Context, args: ServeArgs) -> anyhow::Result<()> {
    let explicit_dir = std::env::args().any(|a| a.starts_with("--data-dir"))
        || std::env::var_os("FERROHUB_DATA_DIR").is_some();
    let config = resolve(explicit_dir.then(|| ctx.data_dir.clone()), args)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let identity = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => pki::load_identity(cert, key)?,
        _ => pki::ensure_dev_identity(&config.data_dir, &certificate_names(&config).await)?,
    };
    let mqtt = TcpListener::bind(SocketAddr::new(config.bind, config.mqtt_port))
        .await
        .with_context(|| {
            format!(
                "cannot listen for MQTT on {}:{}",
                config.bind, config.mqtt_port
            )
        })?;
    let https = match TcpListener::bind(SocketAddr::new(config.bind, config.https_port)).await {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && config.https_port == 443 => {
            eprintln!(
                "warning: port 443 needs privileges; HTTPS is on {FALLBACK_HTTPS_PORT} instead, so the Python SDK's WebSocket transport (which only dials 443) cannot connect"
            );
            TcpListener::bind(SocketAddr::new(config.bind, FALLBACK_HTTPS_PORT)).await?
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "cannot listen for HTTPS on {}:{}",
                    config.bind, config.https_port
                )
            });
        }
    };
    let record = ServerRecord {
        https_port: https.local_addr()?.port(),
        mqtt_port: mqtt.local_addr()?.port(),
    };
    let options = ServerOptions {
        data_dir: config.data_dir.clone(),
        hostnames: config.hostnames.clone(),
        telemetry_partitions: config.telemetry_partitions,
        telemetry_retention: Duration::from_secs(
            u64::from(config.telemetry_retention_hours) * 3600,
        ),
        telemetry_journal_mib: config.telemetry_journal_mib,
        identity,
        ip_filter: config.ip_filter.clone(),
        write_timeout: Default::default(),
    };
    let (trigger, shutdown) = ferrohub_gateway::shutdown::channel();
    let server = start(options, Listeners { mqtt, https }, shutdown).await?;
    // Written once the hub is ready: CLI commands and scripts wait for this file.
    std::fs::write(
        server_record_path(&config.data_dir),
        serde_json::to_vec(&record)?,
    )?;
    print_banner(&server.hub, &config, &record);
    wait_for_signal().await?;
    eprintln!("ferrohub: shutting down");
    trigger.fire();
    server.wait().await;
    Ok(())
}

fn print_banner(hub: &ferrohub_core::Hub, config: &ServeConfig, record: &ServerRecord) {
    let host = config.hostnames.first().map_or("localhost", String::as_str);
    let owner = hub
        .directory()
        .policy(hub.default_hub(), "iothubowner")
        .map(|p| {
            format!(
                "HostName={host};SharedAccessKeyName=iothubowner;SharedAccessKey={}",
                p.primary_key
            )
        })
        .unwrap_or_default();
    let ca = pki::ca_path(&config.data_dir);
    let dir = config.data_dir.display();
    println!("ferrohub is running");
    println!(
        "  MQTT over TLS   {}:{}  (host names: {})",
        config.bind,
        record.mqtt_port,
        config.hostnames.join(", ")
    );
    println!("  HTTPS REST API  {}:{}", config.bind, record.https_port);
    println!("  data directory  {dir}");
    println!("  devices trust   {}", ca.display());
    println!("  owner connection string:");
    println!("    {owner}");
    println!("  create a device:");
    println!(
        "    ferrohub --data-dir {dir} device create my-device && ferrohub --data-dir {dir} device connection-string my-device"
    );
}

/// The configured host names plus those of every hub created earlier, so the development
/// certificate covers all hubs (a hub created while running gets its own certificate on its
/// first handshake; see `hub_certificates`).
async fn certificate_names(config: &ServeConfig) -> Vec<String> {
    use ferrohub_store::HubCatalog;
    let mut names = config.hostnames.clone();
    let db = crate::server::database_path(&config.data_dir);
    if db.exists()
        && let Ok(store) = ferrohub_store_sqlite::SqliteStore::open(&db)
        && let Ok(hubs) = store.hubs().await
    {
        for h in hubs {
            if !names.contains(&h.hostname) {
                names.push(h.hostname);
            }
        }
    }
    names
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn resolve_with(toml: &str) -> anyhow::Result<ServeConfig> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferrohub.toml");
        std::fs::write(&path, toml).unwrap();
        let args = ServeArgs {
            hostnames: Vec::new(),
            mqtt_port: None,
            https_port: None,
            bind: None,
            config: Some(path),
            tls_cert: None,
            tls_key: None,
        };
        resolve(None, args)
    }

    #[test]
    fn the_journal_size_comes_from_the_file_within_its_bounds() {
        assert_eq!(resolve_with("").unwrap().telemetry_journal_mib, 16);
        let config = resolve_with("telemetry_journal_mib = 64\n").unwrap();
        assert_eq!(config.telemetry_journal_mib, 64);
        for bad in ["0", "1025"] {
            let e = resolve_with(&format!("telemetry_journal_mib = {bad}\n")).unwrap_err();
            assert_eq!(e.to_string(), "telemetry_journal_mib must be 1 to 1024");
        }
        let e = resolve_with("telemetry_retention_hours = 169\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("telemetry_retention_hours must be 1 to 168")
        );
    }
}
