//! The twin scenario: N devices each make M twin requests over MQTT, alternating a full
//! GET and a PATCH of reported properties, keeping up to W unanswered per connection.
//!
//! Requests go out at QoS 0 (the answer is the acknowledgement) and answers come back on
//! `$iothub/twin/res/{status}/?$rid={rid}`; the round trip is from writing the request to
//! reading its answer. Requests start once every device has subscribed, and the server's
//! CPU is read around exactly that phase, as for telemetry.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferrohub_mqtt::{Packet, Publish, QoS};
use tokio::time::Instant;

use crate::cli::TwinArgs;
use crate::conn::{Failure, MqttConn};
use crate::feature::{self, TOKEN_LIFETIME};
use crate::fleet::{self, Checkins, Fleet, FleetOptions};
use crate::idle::{cleanup, keep_alive_until, ping_period};
use crate::ops::OpStats;
use crate::procfs::{CpuSpan, Probe};
use crate::report::Report;
use crate::sampler::RssSampler;
use crate::target::Target;

const RESPONSES: &str = "$iothub/twin/res/#";

/// One connection's requests, by kind.
#[derive(Debug, Default)]
pub struct TwinStats {
    pub get: OpStats,
    pub patch: OpStats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Get,
    Patch,
}

impl Kind {
    /// Requests alternate, starting with GET.
    fn of(request: u64) -> Kind {
        if request.is_multiple_of(2) {
            Kind::Get
        } else {
            Kind::Patch
        }
    }

    /// The status a successful answer carries.
    fn success(self) -> u16 {
        match self {
            Kind::Get => 200,
            Kind::Patch => 204,
        }
    }
}

pub async fn run(args: TwinArgs) -> anyhow::Result<Report> {
    let c = &args.common;
    let (target, endpoint) = Target::from_args(&args.target)?;
    feature::api(&target)?;
    let identities = target.provision(c.devices, TOKEN_LIFETIME).await?;
    let options = FleetOptions::from_common(c);
    let probe = c.server_pid.map(|pid| Probe { pid });
    let sampler = probe.map(RssSampler::start);

    let (go, gate) = fleet::gate();
    let mut checkins = Checkins::default();
    let ping_every = ping_period(c.keep_alive);
    let (ops, window, timeout) = (args.ops, usize::from(args.inflight), options.timeout);
    let handle = checkins.handle();
    let ids: Arc<Vec<String>> = Arc::new(identities.iter().map(|d| d.client_id.clone()).collect());
    let mut fleet = Fleet::spawn(
        Arc::new(endpoint),
        &identities,
        options,
        move |i, mut conn| {
            let (gate, ids, checkin) = (gate.clone(), ids.clone(), handle.checkin(i));
            async move {
                conn.subscribe(RESPONSES, QoS::AtMostOnce, timeout).await?;
                checkin.ready();
                keep_alive_until(&mut conn, gate, ping_every).await?;
                let stats = requests(&mut conn, &ids[i], ops, window, timeout).await;
                conn.disconnect().await;
                stats
            }
        },
    );
    let phase = fleet.connected().await;
    let ready = checkins.wait(phase.connected).await;
    let cpu = CpuSpan::start(probe);
    go.open();
    let results = fleet.join().await;
    let cpu = cpu.stop();
    let peak = sampler.map(RssSampler::stop);
    cleanup(&target, &identities).await;

    let mut report = Report::new("twin", target.name(), c.devices);
    report.messages_per_device = Some(args.ops);
    report.inflight = Some(args.inflight);
    report.load = Some(format!(
        "{} devices ready x {} twin requests (GET / PATCH reported alternating), {} in flight per connection",
        ready.len(),
        args.ops,
        args.inflight
    ));
    feature::record_connects(&mut report, phase);
    let (mut get, mut patch) = (OpStats::default(), OpStats::default());
    for result in results {
        match result {
            Ok(stats) => {
                get.merge(stats.get);
                patch.merge(stats.patch);
            }
            Err(failure) => report.errors.count(failure),
        }
    }
    let breakdown: Vec<_> = [("GET", get.latency()), ("PATCH", patch.latency())]
        .into_iter()
        .filter_map(|(name, l)| l.map(|l| (name, l)))
        .collect();
    let mut all = get;
    all.merge(patch);
    let mut operations = all.summary("twin op", "round trip");
    operations.breakdown = breakdown;
    feature::record_operations(&mut report, &all, operations, cpu, probe.is_some(), peak);
    Ok(report)
}

/// Makes `ops` requests, keeping up to `window` unanswered.
pub async fn requests(
    conn: &mut MqttConn,
    device: &str,
    ops: u32,
    window: usize,
    timeout: Duration,
) -> Result<TwinStats, Failure> {
    let total = u64::from(ops);
    let mut pending: HashMap<u64, (Kind, Instant)> = HashMap::with_capacity(window);
    let mut batch: Vec<(u64, Kind)> = Vec::with_capacity(window);
    let mut stats = TwinStats::default();
    let (mut sent, mut answered) = (0u64, 0u64);
    while answered < total {
        while sent < total && pending.len() + batch.len() < window {
            let kind = Kind::of(sent);
            conn.queue(&request(kind, sent))
                .map_err(|e| Failure::Dropped(format!("cannot encode a twin request: {e}")))?;
            batch.push((sent, kind));
            sent += 1;
        }
        if !batch.is_empty() {
            let at = Instant::now();
            tokio::time::timeout(timeout, conn.flush())
                .await
                .map_err(|_| Failure::Timeout(format!("{device}: write stalled")))?
                .map_err(|e| Failure::Dropped(format!("{device}: write failed: {e}")))?;
            pending.extend(batch.drain(..).map(|(rid, kind)| (rid, (kind, at))));
        }
        let packet = tokio::time::timeout(timeout, conn.next())
            .await
            .map_err(|_| Failure::Timeout(format!("{device}: no twin answer within {timeout:?}")))?
            .map_err(|e| Failure::Dropped(format!("{device}: {e}")))?;
        let now = Instant::now();
        // Every answer that arrived in the same read, before refilling the window.
        let mut next = Some(packet);
        while let Some(packet) = next {
            if let Packet::Publish(p) = packet {
                let Some((status, rid)) = parse_response(&p.topic) else {
                    return Err(Failure::Dropped(format!(
                        "{device}: unexpected PUBLISH on {}",
                        p.topic
                    )));
                };
                let Some((kind, at)) = pending.remove(&rid) else {
                    return Err(Failure::Dropped(format!(
                        "{device}: twin answer for $rid={rid}, which is not in flight"
                    )));
                };
                let slot = match kind {
                    Kind::Get => &mut stats.get,
                    Kind::Patch => &mut stats.patch,
                };
                if status == kind.success() {
                    slot.succeeded(at, now);
                } else {
                    let body = String::from_utf8_lossy(&p.payload);
                    slot.failed(
                        at,
                        now,
                        format!("{device}: twin {kind:?} answered {status}: {body}"),
                    );
                }
                answered += 1;
            }
            next = conn
                .try_next()
                .map_err(|e| Failure::Dropped(format!("{device}: {e}")))?;
        }
    }
    Ok(stats)
}

/// Request `rid` of the given kind, at QoS 0.
fn request(kind: Kind, rid: u64) -> Packet {
    let (topic, payload) = match kind {
        Kind::Get => (
            format!("$iothub/twin/GET/?$rid={rid}"),
            Bytes::from_static(b" "),
        ),
        Kind::Patch => (
            format!("$iothub/twin/PATCH/properties/reported/?$rid={rid}"),
            Bytes::from(format!("{{\"bench\":{{\"seq\":{rid}}}}}")),
        ),
    };
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic,
        packet_id: None,
        payload,
    })
}

/// The status and `$rid` of `$iothub/twin/res/{status}/?$rid={rid}[&$version={n}]`.
fn parse_response(topic: &str) -> Option<(u16, u64)> {
    let rest = topic.strip_prefix("$iothub/twin/res/")?;
    let (status, query) = rest.split_once("/?")?;
    let rid = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("$rid="))?;
    Some((status.parse().ok()?, rid.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_matched_by_status_and_request_id() {
        assert_eq!(
            parse_response("$iothub/twin/res/200/?$rid=7"),
            Some((200, 7))
        );
        assert_eq!(
            parse_response("$iothub/twin/res/204/?$rid=8&$version=12"),
            Some((204, 8))
        );
        assert_eq!(
            parse_response("$iothub/twin/res/400/?$version=3&$rid=9"),
            Some((400, 9))
        );
        assert_eq!(parse_response("$iothub/twin/res/200/?$version=3"), None);
        assert_eq!(parse_response("$iothub/methods/POST/m/?$rid=1"), None);
    }

    #[test]
    fn requests_alternate_get_and_patch() {
        assert_eq!(Kind::of(0), Kind::Get);
        assert_eq!(Kind::of(1), Kind::Patch);
        let Packet::Publish(p) = request(Kind::Patch, 5) else {
            panic!("not a PUBLISH")
        };
        assert_eq!(p.topic, "$iothub/twin/PATCH/properties/reported/?$rid=5");
        assert_eq!(&p.payload[..], br#"{"bench":{"seq":5}}"#);
        assert_eq!(p.qos, QoS::AtMostOnce);
    }
}
