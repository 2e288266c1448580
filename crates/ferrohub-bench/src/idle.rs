//! The idle scenario: open N connections, hold them, and measure the server's memory.
//!
//! The server's RSS is read after the devices exist but before any connects, and again at
//! the end of the hold with every connection open; the difference divided by N is what one
//! idle connection costs. Connections send PINGREQ every half keep-alive, as real devices
//! do, so the server has no reason to drop them.

use std::sync::Arc;
use std::time::Duration;

use ferrohub_mqtt::Packet;
use tokio::time::Instant;

use crate::cli::IdleArgs;
use crate::conn::{Failure, MqttConn};
use crate::fleet::{self, Fleet, FleetOptions, Gate};
use crate::procfs::Probe;
use crate::report::{Report, ServerUsage, rate};
use crate::sampler::RssSampler;
use crate::target::Target;

/// Lets the server finish the REST work of creating devices before the baseline is read.
const SETTLE: Duration = Duration::from_secs(1);

pub async fn run(args: IdleArgs) -> anyhow::Result<Report> {
    let c = &args.common;
    let (target, endpoint) = Target::from_args(&args.target)?;
    let lifetime = Duration::from_secs(args.hold + 24 * 3600);
    let identities = target.provision(c.devices, lifetime).await?;
    let options = FleetOptions {
        handshakes: c.handshakes,
        connect_rate: c.connect_rate,
        keep_alive: c.keep_alive,
        timeout: Duration::from_secs(c.timeout),
    };
    let probe = c.server_pid.map(|pid| Probe { pid });
    tokio::time::sleep(SETTLE).await;
    let sampler = probe.map(RssSampler::start);
    let rss_before = probe.and_then(|p| p.rss_kib());

    let (release, gate) = fleet::gate();
    let ping_every = ping_period(c.keep_alive);
    let mut fleet = Fleet::spawn(Arc::new(endpoint), &identities, options, move |_, conn| {
        hold(conn, gate.clone(), ping_every)
    });
    let phase = fleet.connected().await;
    tokio::time::sleep(Duration::from_secs(args.hold)).await;
    let rss_connected = probe.and_then(|p| p.rss_kib());
    release.open();
    let results = fleet.join().await;
    let peak = sampler.map(RssSampler::stop);
    cleanup(&target, &identities).await;

    let mut report = Report::new("idle", target.name(), c.devices);
    report.hold_seconds = Some(args.hold);
    report.connected = phase.connected;
    report.connect_seconds = phase.elapsed.as_secs_f64();
    report.connects_per_second = rate(phase.connected as f64, report.connect_seconds);
    for failure in phase.failures {
        report.errors.count(failure);
    }
    for result in results {
        if let Err(failure) = result {
            report.errors.count(failure);
        }
    }
    if probe.is_some() {
        let per_connection = match (rss_before, rss_connected) {
            (Some(before), Some(connected)) if phase.connected > 0 => {
                Some((connected as f64 - before as f64) * 1024.0 / phase.connected as f64)
            }
            _ => None,
        };
        report.server = Some(ServerUsage {
            peak_rss_kib: peak,
            rss_before_kib: rss_before,
            rss_connected_kib: rss_connected,
            rss_per_connection_bytes: per_connection,
            ..ServerUsage::default()
        });
    }
    Ok(report)
}

/// Deletes the devices; a failure is worth a warning but does not spoil the measurement.
pub async fn cleanup(target: &Target, identities: &[crate::target::Identity]) {
    if let Err(e) = target.cleanup(identities).await {
        eprintln!("warning: {e:#}");
    }
}

/// PINGREQ every half keep-alive: the server may drop a client silent for 1.5 keep-alives.
pub fn ping_period(keep_alive: u16) -> Duration {
    Duration::from_secs(u64::from(keep_alive / 2).max(1))
}

async fn hold(mut conn: MqttConn, gate: Gate, ping_every: Duration) -> Result<(), Failure> {
    keep_alive_until(&mut conn, gate, ping_every).await?;
    conn.disconnect().await;
    Ok(())
}

/// Keeps the connection alive until `gate` opens; a drop before then is a failure.
pub async fn keep_alive_until(
    conn: &mut MqttConn,
    mut gate: Gate,
    ping_every: Duration,
) -> Result<(), Failure> {
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    loop {
        tokio::select! {
            () = gate.opened() => return Ok(()),
            _ = ping.tick() => {
                conn.queue(&Packet::PingReq)
                    .map_err(|e| Failure::Dropped(format!("cannot encode PINGREQ: {e}")))?;
                conn.flush()
                    .await
                    .map_err(|e| Failure::Dropped(format!("sending PINGREQ: {e}")))?;
            }
            // PINGRESP, or anything else the server sends: only a closed connection matters.
            packet = conn.next() => {
                packet.map_err(Failure::Dropped)?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_go_out_well_within_the_keep_alive() {
        assert_eq!(ping_period(60), Duration::from_secs(30));
        assert_eq!(ping_period(2), Duration::from_secs(1));
        assert_eq!(ping_period(3), Duration::from_secs(1));
    }
}
