//! The telemetry scenario: N devices each publish M messages of S bytes at QoS 1, keeping up
//! to W PUBLISHes un-acknowledged per connection.
//!
//! Publishing starts only once the whole fleet is connected, so handshakes do not compete
//! with the publish phase, and the server's CPU time is read exactly around that phase.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferrohub_mqtt::{Packet, Publish, QoS};
use tokio::time::Instant;

use crate::cli::TelemetryArgs;
use crate::conn::{Failure, MqttConn};
use crate::fleet::{self, Fleet, FleetOptions};
use crate::idle::{cleanup, keep_alive_until, ping_period};
use crate::procfs::{CpuSpan, CpuTime, Probe};
use crate::report::{Report, ServerUsage, rate};
use crate::sampler::RssSampler;
use crate::stats::{Latencies, earliest, latest};
use crate::target::Target;

/// One connection's publish phase.
#[derive(Debug, Default)]
pub struct PublishStats {
    /// Microseconds from writing each PUBLISH to reading its PUBACK.
    pub latencies: Vec<u32>,
    pub first_send: Option<Instant>,
    pub last_ack: Option<Instant>,
}

/// What one device publishes.
#[derive(Debug, Clone)]
pub struct Load {
    pub messages: u32,
    pub payload: Bytes,
    pub window: u16,
    pub timeout: Duration,
}

pub async fn run(args: TelemetryArgs) -> anyhow::Result<Report> {
    let c = &args.common;
    let (target, endpoint) = Target::from_args(&args.target)?;
    let identities = target
        .provision(c.devices, Duration::from_secs(24 * 3600))
        .await?;
    let options = FleetOptions {
        handshakes: c.handshakes,
        connect_rate: c.connect_rate,
        keep_alive: c.keep_alive,
        timeout: Duration::from_secs(c.timeout),
    };
    let load = Load {
        messages: args.messages,
        payload: Bytes::from(vec![b'x'; args.size]),
        window: args.inflight,
        timeout: options.timeout,
    };
    let topics: Arc<Vec<String>> = Arc::new(identities.iter().map(|d| d.topic.clone()).collect());
    let probe = c.server_pid.map(|pid| Probe { pid });
    let sampler = probe.map(RssSampler::start);

    let (go, gate) = fleet::gate();
    let ping_every = ping_period(c.keep_alive);
    let mut fleet = Fleet::spawn(
        Arc::new(endpoint),
        &identities,
        options,
        move |i, mut conn| {
            let (gate, load, topics) = (gate.clone(), load.clone(), topics.clone());
            async move {
                keep_alive_until(&mut conn, gate, ping_every).await?;
                let stats = publish(&mut conn, &topics[i], &load).await;
                conn.disconnect().await;
                stats
            }
        },
    );
    let phase = fleet.connected().await;
    let cpu = CpuSpan::start(probe);
    go.open();
    let results = fleet.join().await;
    let (server_time, bench_cpu) = cpu.stop();
    let peak = sampler.map(RssSampler::stop);
    cleanup(&target, &identities).await;

    let mut report = Report::new("telemetry", target.name(), c.devices);
    report.messages_per_device = Some(args.messages);
    report.size = Some(args.size);
    report.inflight = Some(args.inflight);
    report.connected = phase.connected;
    report.connect_seconds = phase.elapsed.as_secs_f64();
    report.connects_per_second = rate(phase.connected as f64, report.connect_seconds);
    for failure in phase.failures {
        report.errors.count(failure);
    }
    let mut latencies = Vec::new();
    let (mut first, mut last): (Option<Instant>, Option<Instant>) = (None, None);
    for result in results {
        match result {
            Ok(stats) => {
                latencies.extend_from_slice(&stats.latencies);
                first = earliest(first, stats.first_send);
                last = latest(last, stats.last_ack);
            }
            Err(failure) => report.errors.count(failure),
        }
    }
    let acked = latencies.len() as u64;
    let seconds = match (first, last) {
        (Some(f), Some(l)) => (l - f).as_secs_f64(),
        _ => 0.0,
    };
    report.acked = Some(acked);
    report.publish_seconds = Some(seconds);
    report.acked_per_second = Some(rate(acked as f64, seconds));
    report.latency = Latencies::of(&mut latencies);
    report.bench_cpu_seconds = bench_cpu;
    if probe.is_some() {
        let cpu = server_time.map(CpuTime::total);
        report.server = Some(ServerUsage {
            publish_cpu_seconds: cpu,
            publish_kernel_cpu_seconds: server_time.map(|t| t.kernel),
            cpu_us_per_message: cpu.filter(|_| acked > 0).map(|s| s * 1e6 / acked as f64),
            peak_rss_kib: peak,
            ..ServerUsage::default()
        });
    }
    Ok(report)
}

/// Publishes `load.messages` messages, keeping up to `load.window` un-acknowledged.
pub async fn publish(
    conn: &mut MqttConn,
    topic: &str,
    load: &Load,
) -> Result<PublishStats, Failure> {
    let window = usize::from(load.window);
    let total = load.messages as usize;
    let mut pending: HashMap<u16, Instant> = HashMap::with_capacity(window);
    let mut batch: Vec<u16> = Vec::with_capacity(window);
    let mut ids = PacketIds::default();
    let mut sent = 0;
    let mut stats = PublishStats {
        latencies: Vec::with_capacity(total),
        ..PublishStats::default()
    };
    while stats.latencies.len() < total {
        while sent < total && pending.len() + batch.len() < window {
            let id = ids.next_free(|id| pending.contains_key(&id));
            conn.queue(&Packet::Publish(Publish {
                dup: false,
                qos: QoS::AtLeastOnce,
                retain: false,
                topic: topic.to_owned(),
                packet_id: Some(id),
                payload: load.payload.clone(),
            }))
            .map_err(|e| Failure::Dropped(format!("cannot encode PUBLISH: {e}")))?;
            batch.push(id);
            sent += 1;
        }
        if !batch.is_empty() {
            let at = Instant::now();
            tokio::time::timeout(load.timeout, conn.flush())
                .await
                .map_err(|_| Failure::Timeout(format!("{topic}: write stalled")))?
                .map_err(|e| Failure::Dropped(format!("{topic}: write failed: {e}")))?;
            for id in batch.drain(..) {
                pending.insert(id, at);
            }
            stats.first_send.get_or_insert(at);
        }
        let packet = tokio::time::timeout(load.timeout, conn.next())
            .await
            .map_err(|_| Failure::Timeout(format!("{topic}: no PUBACK within {:?}", load.timeout)))?
            .map_err(|e| Failure::Dropped(format!("{topic}: {e}")))?;
        let now = Instant::now();
        // Take every PUBACK that arrived in the same read before refilling the window, so
        // the refill goes out as one write.
        let mut next = Some(packet);
        while let Some(packet) = next {
            if let Packet::PubAck(id) = packet {
                let Some(at) = pending.remove(&id) else {
                    return Err(Failure::Dropped(format!(
                        "{topic}: PUBACK for packet id {id}, which is not in flight"
                    )));
                };
                let micros = (now - at).as_micros();
                stats
                    .latencies
                    .push(u32::try_from(micros).unwrap_or(u32::MAX));
                stats.last_ack = Some(now);
            }
            next = conn
                .try_next()
                .map_err(|e| Failure::Dropped(format!("{topic}: {e}")))?;
        }
    }
    Ok(stats)
}

/// Packet ids 1..=65535 in turn (0 is not allowed), skipping any still in flight.
#[derive(Debug, Default)]
pub struct PacketIds {
    last: u16,
}

impl PacketIds {
    /// The next id for which `in_use` is false. The caller keeps fewer than 65535 in flight,
    /// so one always exists.
    pub fn next_free(&mut self, in_use: impl Fn(u16) -> bool) -> u16 {
        loop {
            self.last = self.last.checked_add(1).unwrap_or(1);
            if !in_use(self.last) {
                return self.last;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_ids_wrap_past_zero_and_skip_ids_in_flight() {
        let mut ids = PacketIds { last: 65534 };
        assert_eq!(ids.next_free(|_| false), 65535);
        assert_eq!(ids.next_free(|_| false), 1);
        assert_eq!(ids.next_free(|id| id == 2 || id == 3), 4);
    }
}
