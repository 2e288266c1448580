//! The direct-method scenario: N devices subscribe to `$iothub/methods/POST/#` and answer
//! every call at once with its own payload; the service side calls them over REST at a
//! fixed rate (open loop, see [`crate::pacing`]), spread over the devices in turn so no
//! device nears the hub's 32 pending calls.
//!
//! The round trip is one `POST /twins/{id}/methods` from writing the request to reading the
//! whole answer: REST, the hub, MQTT to the device, its answer, and back. Each answer is
//! checked (`status` 200 and the call's own payload echoed), so a mixed-up answer counts as
//! a failure rather than a fast call.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferrohub::client::segment;
use ferrohub_mqtt::{Packet, Publish, QoS};
use hyper::Method;
use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::cli::MethodArgs;
use crate::conn::{Failure, MqttConn};
use crate::feature::{self, TOKEN_LIFETIME};
use crate::fleet::{self, Checkins, Fleet, FleetOptions, Gate};
use crate::idle::{cleanup, ping_period};
use crate::ops::OpStats;
use crate::pacing::{Pacer, total_calls};
use crate::procfs::{CpuSpan, Probe};
use crate::report::Report;
use crate::sampler::RssSampler;
use crate::service::ServicePool;
use crate::stats::{Latencies, micros};
use crate::target::Target;

const REQUESTS: &str = "$iothub/methods/POST/#";
/// Grace on top of the hub's own response timeout before the bench gives up on a call.
const CALL_GRACE: Duration = Duration::from_secs(5);

/// One call's outcome, with how late it went out.
struct Outcome {
    due: Instant,
    started: Instant,
    done: Instant,
    result: Result<(), String>,
}

pub async fn run(args: MethodArgs) -> anyhow::Result<Report> {
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

    let (stop, stopped) = fleet::gate();
    let mut checkins = Checkins::default();
    let handle = checkins.handle();
    let (ping_every, timeout) = (ping_period(c.keep_alive), options.timeout);
    let mut fleet = Fleet::spawn(
        Arc::new(endpoint),
        &identities,
        options,
        move |i, mut conn| {
            let (stopped, checkin) = (stopped.clone(), handle.checkin(i));
            async move {
                conn.subscribe(REQUESTS, QoS::AtMostOnce, timeout).await?;
                checkin.ready();
                let answered = answer(&mut conn, stopped, ping_every).await;
                conn.disconnect().await;
                answered
            }
        },
    );
    let phase = fleet.connected().await;
    let ready = checkins.wait(phase.connected).await;
    let total = total_calls(args.rate, Duration::from_secs(args.duration), args.calls);
    let mut calls = JoinSet::new();
    let mut cpu = None;
    if !ready.is_empty() {
        pool.warm().await?;
        cpu = Some(CpuSpan::start(probe));
        let pacer = Pacer::new(Instant::now(), args.rate);
        let response_timeout = timeout.as_secs();
        for k in 0..total {
            let due = pacer.due(k);
            tokio::time::sleep_until(due).await;
            let device = &identities[ready[(k % ready.len() as u64) as usize]].client_id;
            let path = format!("/twins/{}/methods", segment(device));
            calls.spawn(call(
                pool.clone(),
                path,
                k,
                due,
                response_timeout,
                timeout + CALL_GRACE,
            ));
        }
    }
    let mut stats = OpStats::default();
    let mut lateness = Vec::with_capacity(calls.len());
    while let Some(joined) = calls.join_next().await {
        let Ok(o) = joined else {
            let now = Instant::now();
            stats.failed(now, now, "a call task panicked".to_owned());
            continue;
        };
        lateness.push(micros(o.started.saturating_duration_since(o.due)));
        match o.result {
            Ok(()) => stats.succeeded(o.started, o.done),
            Err(why) => stats.failed(o.started, o.done, why),
        }
    }
    let cpu = cpu.map_or((None, None), CpuSpan::stop);
    stop.open();
    let results = fleet.join().await;
    let peak = sampler.map(RssSampler::stop);
    cleanup(&target, &identities).await;

    let mut report = Report::new("method", target.name(), c.devices);
    report.load = Some(format!(
        "{} devices ready answering at once, {total} calls at {} calls/s over {} keep-alive HTTPS connections",
        ready.len(),
        args.rate,
        args.connections
    ));
    feature::record_connects(&mut report, phase);
    for result in results {
        if let Err(failure) = result {
            report.errors.count(failure);
        }
    }
    let mut operations = stats.summary("method call", "round trip");
    operations.target_per_second = Some(args.rate);
    if let Some(late) = Latencies::of(&mut lateness) {
        operations.breakdown.push(("send lateness", late));
    }
    feature::record_operations(&mut report, &stats, operations, cpu, probe.is_some(), peak);
    Ok(report)
}

/// One method call, checked.
async fn call(
    pool: Arc<ServicePool>,
    path: String,
    seq: u64,
    due: Instant,
    response_timeout: u64,
    give_up: Duration,
) -> Outcome {
    let body = json!({
        "methodName": "bench",
        "payload": { "seq": seq },
        "responseTimeoutInSeconds": response_timeout,
    });
    let queued = Instant::now();
    let sent = tokio::time::timeout(
        give_up,
        pool.send(Method::POST, &path, || Bytes::from(body.to_string())),
    )
    .await;
    let now = Instant::now();
    let (started, done, result) = match sent {
        Err(_) => (
            queued,
            now,
            Err(format!("{path}: no answer within {give_up:?}")),
        ),
        Ok(Err(e)) => (queued, now, Err(format!("{path}: {e:#}"))),
        Ok(Ok(answer)) => (
            answer.sent,
            answer.received,
            check(answer.status.as_u16(), &answer.body, seq).map_err(|e| format!("{path}: {e}")),
        ),
    };
    Outcome {
        due,
        started,
        done,
        result,
    }
}

/// A good answer is HTTP 200 with `{"status":200,"payload":{"seq":<this call's>}}`.
fn check(http_status: u16, body: &[u8], seq: u64) -> Result<(), String> {
    let text = || String::from_utf8_lossy(body).into_owned();
    if http_status != 200 {
        return Err(format!("HTTP {http_status}: {}", text()));
    }
    let answer: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| format!("answer is not JSON: {}", text()))?;
    if answer["status"] != 200 || answer["payload"]["seq"] != seq {
        return Err(format!("unexpected answer for call {seq}: {}", text()));
    }
    Ok(())
}

/// The device: answers every method request at once, echoing its payload, until `stop`
/// opens; returns how many it answered.
async fn answer(conn: &mut MqttConn, mut stop: Gate, ping_every: Duration) -> Result<u64, Failure> {
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let mut answered = 0;
    loop {
        tokio::select! {
            () = stop.opened() => return Ok(answered),
            _ = ping.tick() => conn.queue(&Packet::PingReq)
                .map_err(|e| Failure::Dropped(format!("cannot encode PINGREQ: {e}")))?,
            packet = conn.next() => {
                // Answer everything that arrived in the same read with one write.
                let mut next = Some(packet.map_err(Failure::Dropped)?);
                while let Some(packet) = next {
                    if let Packet::Publish(p) = packet
                        && let Some(rid) = request_id(&p.topic)
                    {
                        conn.queue(&response(rid, p.payload))
                            .map_err(|e| Failure::Dropped(format!("cannot encode an answer: {e}")))?;
                        answered += 1;
                    }
                    next = conn.try_next().map_err(Failure::Dropped)?;
                }
            }
        }
        conn.flush()
            .await
            .map_err(|e| Failure::Dropped(format!("write failed: {e}")))?;
    }
}

/// The `$rid` of `$iothub/methods/POST/{name}/?$rid={rid}`.
fn request_id(topic: &str) -> Option<&str> {
    let rest = topic.strip_prefix("$iothub/methods/POST/")?;
    let (_name, query) = rest.split_once("/?")?;
    query.split('&').find_map(|pair| pair.strip_prefix("$rid="))
}

fn response(rid: &str, payload: Bytes) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: format!("$iothub/methods/res/200/?$rid={rid}"),
        packet_id: None,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_id_comes_from_the_query() {
        assert_eq!(
            request_id("$iothub/methods/POST/bench/?$rid=1f"),
            Some("1f")
        );
        assert_eq!(request_id("$iothub/methods/POST/m/?a=b&$rid=x"), Some("x"));
        assert_eq!(request_id("$iothub/methods/POST/m/"), None);
        assert_eq!(request_id("$iothub/twin/res/200/?$rid=1"), None);
    }

    #[test]
    fn only_this_calls_echoed_payload_is_a_good_answer() {
        assert_eq!(
            check(200, br#"{"status":200,"payload":{"seq":7}}"#, 7),
            Ok(())
        );
        assert!(check(200, br#"{"status":200,"payload":{"seq":8}}"#, 7).is_err());
        assert!(check(200, br#"{"status":500,"payload":{"seq":7}}"#, 7).is_err());
        assert!(check(404, br#"{"Message":"offline"}"#, 7).is_err());
        assert!(check(200, b"not json", 7).is_err());
    }
}
