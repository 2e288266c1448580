//! The cloud-to-device scenario: the service queues M messages per device over REST
//! (`POST /ferrohub/devices/{id}/messages/devicebound`), N devices subscribed at QoS 1
//! receive them and complete each with a PUBACK.
//!
//! The hub refuses a 51st pending message, so each device's sender keeps at most K
//! messages sent but not yet completed: a permit is taken per send and given back by the
//! device when it PUBACKs. Each message's body is the time its REST call was written (µs
//! since the run's base instant, same process, same clock), so the device measures send to
//! receive exactly. Throughput is messages from the first send to the last PUBACK.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ferrohub::client::segment;
use ferrohub_mqtt::{Packet, QoS};
use hyper::Method;
use serde_json::json;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::cli::C2dArgs;
use crate::conn::{Failure, MqttConn};
use crate::feature::{self, TOKEN_LIFETIME};
use crate::fleet::{Checkins, Fleet, FleetOptions};
use crate::idle::cleanup;
use crate::ops::OpStats;
use crate::procfs::{CpuSpan, Probe};
use crate::report::Report;
use crate::sampler::RssSampler;
use crate::service::ServicePool;
use crate::stats::latest;
use crate::target::Target;

/// Grace on top of `--timeout` before the bench gives up on one REST send.
const SEND_GRACE: Duration = Duration::from_secs(5);

/// What one device's sender and receiver share.
struct Mailbox {
    /// Messages that may still be sent before the device completes some.
    permits: Semaphore,
    /// Messages the sender gave up on: the device stops waiting for them.
    lost: AtomicU64,
    /// Wakes the device when `lost` grows.
    wake: Notify,
}

impl Mailbox {
    fn new(outstanding: u32) -> Mailbox {
        Mailbox {
            permits: Semaphore::new(outstanding as usize),
            lost: AtomicU64::new(0),
            wake: Notify::new(),
        }
    }

    /// A message the hub never queued: its permit comes back and the device stops
    /// waiting for it.
    fn send_failed(&self) {
        self.permits.add_permits(1);
        self.lost.fetch_add(1, Ordering::Relaxed);
        self.wake.notify_one();
    }
}

pub async fn run(args: C2dArgs) -> anyhow::Result<Report> {
    let c = &args.common;
    let (target, endpoint) = Target::from_args(&args.target)?;
    let api = feature::api(&target)?;
    let pool = Arc::new(ServicePool::new(
        &api,
        &args.target.ca,
        args.connections,
        TOKEN_LIFETIME,
    )?);
    let identities = target.provision(c.devices, TOKEN_LIFETIME).await?;
    let options = FleetOptions::from_common(c);
    let probe = c.server_pid.map(|pid| Probe { pid });
    let sampler = probe.map(RssSampler::start);
    let mailboxes: Arc<Vec<Mailbox>> = Arc::new(
        (0..identities.len())
            .map(|_| Mailbox::new(args.outstanding))
            .collect(),
    );
    let base = Instant::now();
    let total = u64::from(args.messages);

    let mut checkins = Checkins::default();
    let handle = checkins.handle();
    let timeout = options.timeout;
    let ids: Arc<Vec<String>> = Arc::new(identities.iter().map(|d| d.client_id.clone()).collect());
    let boxes = mailboxes.clone();
    let mut fleet = Fleet::spawn(
        Arc::new(endpoint),
        &identities,
        options,
        move |i, mut conn| {
            let (checkin, ids, boxes) = (handle.checkin(i), ids.clone(), boxes.clone());
            async move {
                let filter = format!("devices/{}/messages/devicebound/#", ids[i]);
                conn.subscribe(&filter, QoS::AtLeastOnce, timeout).await?;
                checkin.ready();
                let stats = receive(&mut conn, &ids[i], &boxes[i], total, base, timeout).await;
                conn.disconnect().await;
                stats
            }
        },
    );
    let phase = fleet.connected().await;
    let ready = checkins.wait(phase.connected).await;
    pool.warm().await?;
    let cpu = CpuSpan::start(probe);
    let mut senders = JoinSet::new();
    for &i in &ready {
        let path = format!(
            "/ferrohub/devices/{}/messages/devicebound",
            segment(&identities[i].client_id)
        );
        let (pool, boxes) = (pool.clone(), mailboxes.clone());
        senders.spawn(async move {
            send_all(&pool, &path, &boxes[i], total, base, timeout + SEND_GRACE).await
        });
    }
    let mut sends = OpStats::default();
    while let Some(joined) = senders.join_next().await {
        match joined {
            Ok(stats) => sends.merge(stats),
            Err(e) => {
                let now = Instant::now();
                sends.failed(now, now, format!("a sender task failed: {e}"));
            }
        }
    }
    let results = fleet.join().await;
    let cpu = cpu.stop();
    let peak = sampler.map(RssSampler::stop);
    cleanup(&target, &identities).await;

    let mut report = Report::new("c2d", target.name(), c.devices);
    report.messages_per_device = Some(args.messages);
    report.load = Some(format!(
        "{} devices ready x {} C2D messages, at most {} outstanding per device, {} keep-alive HTTPS connections",
        ready.len(),
        args.messages,
        args.outstanding,
        args.connections
    ));
    feature::record_connects(&mut report, phase);
    let mut delivered = OpStats::default();
    for result in results {
        match result {
            Ok(stats) => delivered.merge(stats),
            Err(failure) => report.errors.count(failure),
        }
    }
    let mut operations = delivered.summary("C2D message", "send to device");
    if let Some(rest) = sends.latency() {
        operations.breakdown.push(("REST send", rest));
    }
    operations.failed = sends.failed;
    feature::record_operations(&mut report, &sends, operations, cpu, probe.is_some(), peak);
    Ok(report)
}

/// Queues `total` messages for one device, keeping at most the mailbox's permits
/// outstanding; returns the REST calls' stats.
async fn send_all(
    pool: &ServicePool,
    path: &str,
    mailbox: &Mailbox,
    total: u64,
    base: Instant,
    give_up: Duration,
) -> OpStats {
    let mut stats = OpStats::default();
    for _ in 0..total {
        // Given back by the device's PUBACK (or below, for a message never queued).
        match mailbox.permits.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => break,
        }
        let queued = Instant::now();
        let body = || {
            let stamp = base.elapsed().as_micros();
            Bytes::from(json!({ "body": stamp.to_string() }).to_string())
        };
        let sent = tokio::time::timeout(give_up, pool.send(Method::POST, path, body)).await;
        let failure = match sent {
            Ok(Ok(answer)) if answer.status.as_u16() == 201 => {
                stats.succeeded(answer.sent, answer.received);
                continue;
            }
            Ok(Ok(answer)) => format!(
                "{path}: HTTP {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            ),
            Ok(Err(e)) => format!("{path}: {e:#}"),
            Err(_) => format!("{path}: no answer within {give_up:?}"),
        };
        stats.failed(queued, Instant::now(), failure);
        mailbox.send_failed();
    }
    stats
}

/// The device: receives until every message its sender queued has arrived, PUBACKing each
/// (one write per read); latency is from each message's send stamp to its arrival, and the
/// window ends at the last PUBACK written.
async fn receive(
    conn: &mut MqttConn,
    device: &str,
    mailbox: &Mailbox,
    total: u64,
    base: Instant,
    timeout: Duration,
) -> Result<OpStats, Failure> {
    let mut stats = OpStats::default();
    let mut received = 0u64;
    let mut deadline = Instant::now() + timeout;
    while received + mailbox.lost.load(Ordering::Relaxed) < total {
        tokio::select! {
            () = mailbox.wake.notified() => continue,
            () = tokio::time::sleep_until(deadline) => {
                return Err(Failure::Timeout(format!(
                    "{device}: received {received} of {total} C2D messages, then nothing for {timeout:?}"
                )));
            }
            packet = conn.next() => {
                let now = Instant::now();
                let mut completed = 0;
                let mut next = Some(packet.map_err(|e| Failure::Dropped(format!("{device}: {e}")))?);
                while let Some(packet) = next {
                    if let Packet::Publish(p) = packet
                        && let Some(id) = p.packet_id
                    {
                        let sent = sent_at(base, &p.payload).ok_or_else(|| {
                            Failure::Dropped(format!("{device}: C2D body without a send stamp"))
                        })?;
                        conn.queue(&Packet::PubAck(id))
                            .map_err(|e| Failure::Dropped(format!("cannot encode PUBACK: {e}")))?;
                        // A redelivery (DUP) was already counted when it first arrived.
                        if !p.dup {
                            stats.succeeded(sent, now);
                            received += 1;
                            completed += 1;
                        }
                    }
                    next = conn.try_next().map_err(|e| Failure::Dropped(format!("{device}: {e}")))?;
                }
                conn.flush()
                    .await
                    .map_err(|e| Failure::Dropped(format!("{device}: write failed: {e}")))?;
                stats.last = latest(stats.last, Some(Instant::now()));
                mailbox.permits.add_permits(completed);
                deadline = Instant::now() + timeout;
            }
        }
    }
    Ok(stats)
}

/// The send time a message body carries: microseconds since `base`, as text.
fn sent_at(base: Instant, body: &[u8]) -> Option<Instant> {
    let micros: u64 = std::str::from_utf8(body).ok()?.parse().ok()?;
    Some(base + Duration::from_micros(micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_carries_the_send_time() {
        let base = Instant::now();
        assert_eq!(
            sent_at(base, b"1500"),
            Some(base + Duration::from_micros(1500))
        );
        assert_eq!(sent_at(base, b"not a time"), None);
        assert_eq!(sent_at(base, b""), None);
    }

    #[tokio::test]
    async fn a_send_the_hub_refused_is_not_waited_for() {
        let mailbox = Mailbox::new(2);
        if let Ok(permit) = mailbox.permits.acquire().await {
            permit.forget();
        }
        assert_eq!(mailbox.permits.available_permits(), 1);
        mailbox.send_failed();
        assert_eq!(mailbox.permits.available_permits(), 2);
        assert_eq!(mailbox.lost.load(Ordering::Relaxed), 1);
        // The wake-up is kept for a device that starts waiting only afterwards.
        let woken = tokio::time::timeout(Duration::from_secs(1), mailbox.wake.notified()).await;
        assert!(woken.is_ok());
    }
}
