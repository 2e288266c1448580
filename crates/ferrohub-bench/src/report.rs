//! The results: readable text, and one JSON line for scripts.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::conn::Failure;
use crate::stats::Latencies;

/// Failed connections by kind, and failed operations; any of them makes the run fail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Errors {
    pub refused: usize,
    pub connect_failed: usize,
    pub dropped: usize,
    pub timeouts: usize,
    /// Twin requests, method calls or C2D sends that got a wrong answer or none.
    pub failed_operations: u64,
    /// The first failure's description, to show what went wrong.
    pub first: Option<String>,
}

impl Errors {
    pub fn count(&mut self, failure: Failure) {
        let (slot, text) = match failure {
            Failure::Refused(t) => (&mut self.refused, t),
            Failure::ConnectFailed(t) => (&mut self.connect_failed, t),
            Failure::Dropped(t) => (&mut self.dropped, t),
            Failure::Timeout(t) => (&mut self.timeouts, t),
        };
        *slot += 1;
        self.first.get_or_insert(text);
    }

    /// Counts `n` failed operations; `first` describes one of them.
    pub fn operations_failed(&mut self, n: u64, first: Option<String>) {
        self.failed_operations += n;
        if self.first.is_none() {
            self.first = first;
        }
    }

    pub fn total(&self) -> usize {
        let operations = usize::try_from(self.failed_operations).unwrap_or(usize::MAX);
        (self.refused + self.connect_failed + self.dropped + self.timeouts)
            .saturating_add(operations)
    }
}

/// The device-feature scenarios' results: request/response operations rather than
/// acknowledged telemetry.
#[derive(Debug, Clone, PartialEq)]
pub struct Operations {
    /// What one operation is, for the text ("twin op", "method call", "C2D message").
    pub unit: &'static str,
    pub completed: u64,
    pub failed: u64,
    /// From the first operation's start to the last one's end, over all tasks.
    pub seconds: f64,
    /// Completed operations per second over `seconds`.
    pub per_second: f64,
    /// The rate the sender aimed at, for paced scenarios.
    pub target_per_second: Option<f64>,
    /// What `latency` measures ("round trip", "send to device").
    pub latency_name: &'static str,
    pub latency: Option<Latencies>,
    /// Further latencies by name (per request kind, or a part of the path).
    pub breakdown: Vec<(&'static str, Latencies)>,
}

fn latency_json(l: &Latencies) -> Value {
    json!({ "count": l.count, "p50": l.p50_us, "p99": l.p99_us, "max": l.max_us })
}

/// What the server's process used, when `--server-pid` was given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerUsage {
    /// CPU seconds (user + system) during the publish phase (the measured phase, for the
    /// device-feature scenarios; `cpu_us_per_message` is then per operation).
    pub publish_cpu_seconds: Option<f64>,
    pub cpu_us_per_message: Option<f64>,
    /// The kernel's part of `publish_cpu_seconds` (system time).
    pub publish_kernel_cpu_seconds: Option<f64>,
    /// Highest sampled RSS during the run.
    pub peak_rss_kib: Option<u64>,
    /// Idle scenario: RSS before connecting and with every connection open.
    pub rss_before_kib: Option<u64>,
    pub rss_connected_kib: Option<u64>,
    pub rss_per_connection_bytes: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub scenario: &'static str,
    pub target: &'static str,
    pub devices: usize,
    pub messages_per_device: Option<u32>,
    pub size: Option<usize>,
    pub inflight: Option<u16>,
    pub connected: usize,
    pub connect_seconds: f64,
    pub connects_per_second: f64,
    pub acked: Option<u64>,
    pub publish_seconds: Option<f64>,
    pub acked_per_second: Option<f64>,
    pub latency: Option<Latencies>,
    pub server: Option<ServerUsage>,
    /// CPU seconds this load generator used while publishing: on a shared machine it
    /// competes with the server, so a saturated client caps the measured rate.
    pub bench_cpu_seconds: Option<f64>,
    pub hold_seconds: Option<u64>,
    /// The load's shape in words, for scenarios whose shape is not telemetry's.
    pub load: Option<String>,
    pub operations: Option<Operations>,
    pub errors: Errors,
}

impl Report {
    /// A report with the fields every scenario has.
    pub fn new(scenario: &'static str, target: &'static str, devices: usize) -> Report {
        Report {
            scenario,
            target,
            devices,
            messages_per_device: None,
            size: None,
            inflight: None,
            connected: 0,
            connect_seconds: 0.0,
            connects_per_second: 0.0,
            acked: None,
            publish_seconds: None,
            acked_per_second: None,
            latency: None,
            server: None,
            bench_cpu_seconds: None,
            hold_seconds: None,
            load: None,
            operations: None,
            errors: Errors::default(),
        }
    }

    pub fn to_json(&self) -> Value {
        let server = self.server.as_ref().map(|s| {
            json!({
                "publish_cpu_seconds": s.publish_cpu_seconds,
                "cpu_us_per_message": s.cpu_us_per_message,
                "publish_kernel_cpu_seconds": s.publish_kernel_cpu_seconds,
                "peak_rss_kib": s.peak_rss_kib,
                "rss_before_kib": s.rss_before_kib,
                "rss_connected_kib": s.rss_connected_kib,
                "rss_per_connection_bytes": s.rss_per_connection_bytes,
            })
        });
        json!({
            "scenario": self.scenario,
            "target": self.target,
            "devices": self.devices,
            "messages_per_device": self.messages_per_device,
            "size": self.size,
            "inflight": self.inflight,
            "hold_seconds": self.hold_seconds,
            "connected": self.connected,
            "connect_seconds": self.connect_seconds,
            "connects_per_second": self.connects_per_second,
            "acked": self.acked,
            "publish_seconds": self.publish_seconds,
            "acked_per_second": self.acked_per_second,
            "puback_latency_us": self.latency.as_ref().map(latency_json),
            "load": self.load,
            "operations": self.operations.as_ref().map(|o| json!({
                "unit": o.unit,
                "completed": o.completed,
                "failed": o.failed,
                "seconds": o.seconds,
                "per_second": o.per_second,
                "target_per_second": o.target_per_second,
                "latency_name": o.latency_name,
                "latency_us": o.latency.as_ref().map(latency_json),
                "breakdown_us": o.breakdown.iter()
                    .map(|(name, l)| ((*name).to_owned(), latency_json(l)))
                    .collect::<serde_json::Map<_, _>>(),
            })),
            "server": server,
            "bench_cpu_seconds": self.bench_cpu_seconds,
            "errors": {
                "total": self.errors.total(),
                "refused": self.errors.refused,
                "connect_failed": self.errors.connect_failed,
                "dropped": self.errors.dropped,
                "timeouts": self.errors.timeouts,
                "failed_operations": self.errors.failed_operations,
                "first": self.errors.first,
            },
        })
    }

    pub fn human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{} against {}", self.scenario, self.target);
        let shape = match (
            &self.load,
            self.messages_per_device,
            self.size,
            self.inflight,
        ) {
            (Some(load), ..) => format!(", {load}"),
            (None, Some(m), Some(s), Some(w)) => {
                format!(" x {m} messages x {s} B, QoS 1, {w} in flight per connection")
            }
            _ => String::new(),
        };
        let _ = writeln!(out, "  load          {} devices{shape}", self.devices);
        let _ = writeln!(
            out,
            "  connects      {}/{} in {:.2} s = {:.0} connects/s",
            self.connected, self.devices, self.connect_seconds, self.connects_per_second
        );
        if let (Some(acked), Some(secs), Some(rate)) =
            (self.acked, self.publish_seconds, self.acked_per_second)
        {
            let _ = writeln!(
                out,
                "  acked         {acked} in {secs:.2} s = {rate:.0} msg/s"
            );
        }
        if let Some(l) = self.latency {
            let _ = writeln!(
                out,
                "  PUBACK        p50 {} us, p99 {} us, max {} us ({} samples)",
                l.p50_us, l.p99_us, l.max_us, l.count
            );
        }
        if let Some(o) = &self.operations {
            let target = o
                .target_per_second
                .map_or(String::new(), |t| format!(" (target {t:.0}/s)"));
            let _ = writeln!(
                out,
                "  completed     {} {}s in {:.2} s = {:.0}/s{target}, {} failed",
                o.completed, o.unit, o.seconds, o.per_second, o.failed
            );
            let named = std::iter::once((o.latency_name, o.latency))
                .chain(o.breakdown.iter().map(|(n, l)| (*n, Some(*l))));
            for (name, latency) in named {
                if let Some(l) = latency {
                    let _ = writeln!(
                        out,
                        "  {name:<13} p50 {} us, p99 {} us, max {} us ({} samples)",
                        l.p50_us, l.p99_us, l.max_us, l.count
                    );
                }
            }
        }
        let phase = if self.operations.is_some() {
            "measuring"
        } else {
            "publishing"
        };
        if let Some(cpu) = self.bench_cpu_seconds {
            let _ = writeln!(
                out,
                "  bench CPU     {cpu:.2} s while {phase} (this client)"
            );
        }
        if let Some(hold) = self.hold_seconds {
            let _ = writeln!(out, "  held          {hold} s");
        }
        if let Some(s) = &self.server {
            if let (Some(cpu), Some(per)) = (s.publish_cpu_seconds, s.cpu_us_per_message) {
                let unit = self.operations.as_ref().map_or("acked message", |o| o.unit);
                let kernel = s
                    .publish_kernel_cpu_seconds
                    .filter(|_| cpu > 0.0)
                    .map(|k| format!(" ({:.1} us of it in the kernel)", per * k / cpu))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  server CPU    {cpu:.2} s while {phase} = {per:.1} us per {unit}{kernel}"
                );
            }
            if let (Some(before), Some(connected), Some(per)) = (
                s.rss_before_kib,
                s.rss_connected_kib,
                s.rss_per_connection_bytes,
            ) {
                let _ = writeln!(
                    out,
                    "  server RSS    {before} KiB before, {connected} KiB connected = {:.2} KiB per connection",
                    per / 1024.0
                );
            }
            if let Some(peak) = s.peak_rss_kib {
                let _ = writeln!(out, "  server peak   {peak} KiB RSS (sampled every 100 ms)");
            }
        }
        let e = &self.errors;
        let _ = writeln!(
            out,
            "  errors        {} (refused {}, connect failed {}, dropped {}, timeouts {}, failed operations {})",
            e.total(),
            e.refused,
            e.connect_failed,
            e.dropped,
            e.timeouts,
            e.failed_operations
        );
        if let Some(first) = &e.first {
            let _ = writeln!(out, "  first error   {first}");
        }
        out
    }
}

/// `count / seconds`, 0 when no time passed.
pub fn rate(count: f64, seconds: f64) -> f64 {
    if seconds > 0.0 { count / seconds } else { 0.0 }
}
