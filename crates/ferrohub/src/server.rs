//! The composition root: store, log, hub, gateway and API wired on bound listeners.
//!
//! `run` takes listeners that are already bound and a shutdown signal, so the CLI binds the
//! configured ports and tests bind port 0; both run exactly this code.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::Context;
use ferrohub_api::router::MetricsRenderer;
use ferrohub_api::{ApiState, router};
use ferrohub_core::clock::SystemClock;
use ferrohub_core::hub::LogOpener;
use ferrohub_core::{Hub, HubConfig, HubError};
use ferrohub_gateway::driver::DriverConfig;
use ferrohub_gateway::https_listener::serve_https;
use ferrohub_gateway::mqtt_listener::serve_mqtt;
use ferrohub_gateway::server_cert::ServerCertResolver;
use ferrohub_gateway::shutdown::Shutdown;
use ferrohub_gateway::tls;
use ferrohub_log::{LogConfig, SegmentLog, TelemetryLog};
use ferrohub_protocol::HubName;
use ferrohub_store_sqlite::SqliteStore;
use tokio::net::TcpListener;

use crate::hub_certificates::DevHubCertificates;
use crate::pki::ServerIdentity;

/// The name of the hub that exists by default.
pub const DEFAULT_HUB: &str = "default";

/// What `run` needs besides the listeners.
pub struct ServerOptions {
    pub data_dir: PathBuf,
    pub hostnames: Vec<String>,
    pub telemetry_partitions: u32,
    pub telemetry_retention: Duration,
    /// The commit journal of each hub's telemetry log, in MiB.
    pub telemetry_journal_mib: u32,
    pub identity: ServerIdentity,
    pub ip_filter: ferrohub_gateway::ip_filter::IpFilter,
    /// How long a write to a device may block before the device is dropped (default 30 s;
    /// tests shorten it).
    pub write_timeout: ferrohub_gateway::driver::WriteTimeout,
}

/// Bound listeners.
pub struct Listeners {
    pub mqtt: TcpListener,
    pub https: TcpListener,
}

/// How often expired telemetry segments are removed.
const RETENTION_INTERVAL: Duration = Duration::from_secs(300);

/// The process-wide Prometheus recorder (the `metrics` facade allows one).
pub fn metrics_renderer() -> MetricsRenderer {
    static HANDLE: OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
        OnceLock::new();
    let handle = HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .ok()
        })
        .clone();
    Arc::new(move || handle.as_ref().map(|h| h.render()).unwrap_or_default())
}

pub fn database_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("ferrohub.db")
}

/// Where each hub's telemetry log lives (one directory per hub, named after it).
pub fn telemetry_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("telemetry")
}

/// Opens the hub over the data directory (also used by CLI commands that read it directly).
pub async fn open_hub(
    options: &ServerOptions,
) -> anyhow::Result<(Hub, Arc<Mutex<Vec<SegmentLog>>>)> {
    let store =
        SqliteStore::open(&database_path(&options.data_dir)).context("cannot open the database")?;
    let opened: Arc<Mutex<Vec<SegmentLog>>> = Arc::default();
    let (dir, partitions, retention, journal_mib, registry) = (
        telemetry_path(&options.data_dir),
        options.telemetry_partitions,
        options.telemetry_retention,
        options.telemetry_journal_mib,
        opened.clone(),
    );
    let open_log: LogOpener = Arc::new(move |hub: &HubName| {
        let mut config = LogConfig::new(dir.join(hub.as_str()));
        config.partitions = partitions;
        config.retention = retention;
        config.journal_bytes = u64::from(journal_mib) * 1024 * 1024;
        let log = SegmentLog::open(config)?;
        registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(log.clone());
        Ok::<Arc<dyn TelemetryLog>, HubError>(Arc::new(log))
    });
    let config = HubConfig {
        default_hub: HubName::new(DEFAULT_HUB).context("default hub name")?,
        default_hostnames: options.hostnames.clone(),
    };
    let hub = Hub::open(Arc::new(store), open_log, Arc::new(SystemClock), config).await?;
    Ok((hub, opened))
}

/// A started server: its hub handle, and the task that ends after shutdown completes.
pub struct RunningServer {
    pub hub: Hub,
    task: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// Resolves once shutdown has fired and everything is closed and flushed.
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Opens everything and starts serving; returns once the hub is ready (the default hub and
/// its policies exist), so the caller can print how to connect.
pub async fn start(
    options: ServerOptions,
    listeners: Listeners,
    shutdown: Shutdown,
) -> anyhow::Result<RunningServer> {
    let (hub, logs) = open_hub(&options).await?;
    // Open every hub's log now, so a broken log fails the start rather than a device later.
    for h in hub.directory().hubs() {
        hub.log_for(&h.name)?;
    }
    let certificates = server_certificates(options.identity, &hub)?;
    let https_tls = tls::server_config(
        certificates,
        hub.trusted_cas().clone(),
        hub.registered_thumbprints().clone(),
    )?;
    let mqtt_tls = tls::mqtt_config(&https_tls);
    // One config for both device listeners, so they share the authentication throttle.
    let ip_filter = Arc::new(options.ip_filter);
    let driver_config = DriverConfig {
        ip_filter: ip_filter.clone(),
        write_timeout: options.write_timeout,
        ..DriverConfig::default()
    };
    let api = router(ApiState {
        hub: hub.clone(),
        render_metrics: metrics_renderer(),
    })
    .merge(ferrohub_gateway::websocket::router(
        hub.clone(),
        driver_config.clone(),
        shutdown.clone(),
    ));
    let mqtt = tokio::spawn(serve_mqtt(
        listeners.mqtt,
        mqtt_tls,
        hub.clone(),
        driver_config,
        shutdown.clone(),
    ));
    let https = tokio::spawn(serve_https(
        listeners.https,
        https_tls,
        api,
        ip_filter,
        shutdown.clone(),
    ));
    let retention = tokio::spawn(enforce_retention(hub.clone(), shutdown.clone()));
    let handle = hub.clone();
    let mut waiter = shutdown;
    let task = tokio::spawn(async move {
        waiter.requested().await;
        handle.presence().shutdown_all();
        let _ = mqtt.await;
        let _ = https.await;
        retention.abort();
        let all: Vec<SegmentLog> = logs.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for log in all {
            log.shutdown().await;
        }
    });
    Ok(RunningServer { hub, task })
}

/// The certificate resolver both listeners share: the operator's certificate for every
/// name, or the development certificate plus certificates for hubs created later.
fn server_certificates(
    identity: ServerIdentity,
    hub: &Hub,
) -> anyhow::Result<Arc<ServerCertResolver>> {
    let resolver = match identity.ca {
        None => ServerCertResolver::provided(identity.chain, identity.key),
        Some(ca) => ServerCertResolver::development(
            identity.chain,
            identity.key,
            Arc::new(DevHubCertificates {
                hub: hub.clone(),
                ca,
            }),
        ),
    }
    .context("the server certificate and key do not form a usable pair")?;
    Ok(Arc::new(resolver))
}

/// Serves until `shutdown` fires, then stops accepting, closes connections after their
/// in-flight appends complete, and flushes the logs.
pub async fn run(
    options: ServerOptions,
    listeners: Listeners,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    start(options, listeners, shutdown).await?.wait().await;
    Ok(())
}

async fn enforce_retention(hub: Hub, mut shutdown: Shutdown) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(RETENTION_INTERVAL) => {}
            () = shutdown.requested() => return,
        }
        let now_ms =
            i64::try_from(hub.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        for log in hub.open_logs() {
            match log.enforce_retention(now_ms) {
                Ok(0) => {}
                Ok(n) => tracing::info!(segments = n, "expired telemetry removed"),
                Err(e) => tracing::warn!(error = %e, "telemetry retention failed"),
            }
        }
    }
}
