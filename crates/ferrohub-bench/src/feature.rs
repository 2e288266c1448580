//! Steps the device-feature scenarios (twin, method, c2d) share: they need ferrohub's REST
//! API, and they report their connect phase and the server's CPU per operation alike.

use std::sync::Arc;

use anyhow::bail;
use ferrohub::client::ApiClient;

use crate::fleet::ConnectPhase;
use crate::ops::OpStats;
use crate::procfs::CpuTime;
use crate::report::{Operations, Report, ServerUsage, rate};
use crate::target::Target;

/// Device ids' tokens and the service token outlive any run this tool makes.
pub const TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The REST client of a ferrohub target (validation already refused `--broker`).
pub fn api(target: &Target) -> anyhow::Result<Arc<ApiClient>> {
    match target {
        Target::Hub { api, .. } => Ok(api.clone()),
        Target::Broker { .. } => bail!("this scenario needs ferrohub, not a plain broker"),
    }
}

/// Fills the report's connect-phase fields.
pub fn record_connects(report: &mut Report, phase: ConnectPhase) {
    report.connected = phase.connected;
    report.connect_seconds = phase.elapsed.as_secs_f64();
    report.connects_per_second = rate(phase.connected as f64, report.connect_seconds);
    for failure in phase.failures {
        report.errors.count(failure);
    }
}

/// Fills the operations, their failures, and the CPU both processes used while measuring:
/// `cpu` is (server, bench) from [`crate::procfs::CpuSpan::stop`]; `server_probed` says
/// whether `--server-pid` was given; `peak` is the sampled peak RSS.
pub fn record_operations(
    report: &mut Report,
    stats: &OpStats,
    operations: Operations,
    cpu: (Option<CpuTime>, Option<f64>),
    server_probed: bool,
    peak: Option<u64>,
) {
    stats.count_failures(&mut report.errors);
    let (server_time, bench_cpu) = cpu;
    let server_cpu = server_time.map(CpuTime::total);
    let completed = operations.completed;
    report.operations = Some(operations);
    report.bench_cpu_seconds = bench_cpu;
    if server_probed {
        report.server = Some(ServerUsage {
            publish_cpu_seconds: server_cpu,
            cpu_us_per_message: server_cpu
                .filter(|_| completed > 0)
                .map(|s| s * 1e6 / completed as f64),
            publish_kernel_cpu_seconds: server_time.map(|t| t.kernel),
            peak_rss_kib: peak,
            ..ServerUsage::default()
        });
    }
}
