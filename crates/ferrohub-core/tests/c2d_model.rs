//! Model-based property test of the cloud-to-device queue: random sends, deliveries,
//! completions, reconnects, purges and clock jumps against the real SQLite store, checked
//! step by step against a plain in-memory model of IoT Hub's rules.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferrohub_core::c2d::{Ack, C2dSend, DEFAULT_MAX_DELIVERY_COUNT, DEFAULT_MAX_QUEUE_DEPTH};
use ferrohub_core::clock::ManualClock;
use ferrohub_core::hub::LogOpener;
use ferrohub_core::registry::IdentitySpec;
use ferrohub_core::{Hub, HubConfig, HubError};
use ferrohub_log::{LogConfig, SegmentLog, TelemetryLog};
use ferrohub_protocol::{DeviceId, HubName, Identity};
use ferrohub_store_sqlite::SqliteStore;
use proptest::prelude::*;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
enum Op {
    /// Send with a TTL in seconds.
    Send(u64),
    /// The connection asks for the next message.
    Deliver,
    /// The device acknowledges the n-th in-flight delivery (modulo their number).
    Complete(usize),
    /// The connection drops: in-flight deliveries are no longer in flight.
    Reconnect,
    Purge,
    /// The clock moves forward this many seconds.
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u64..120).prop_map(Op::Send),
        4 => Just(Op::Deliver),
        3 => (0usize..8).prop_map(Op::Complete),
        2 => Just(Op::Reconnect),
        1 => Just(Op::Purge),
        2 => (1u64..90).prop_map(Op::Advance),
    ]
}

/// One queued message in the model.
#[derive(Debug, Clone)]
struct Queued {
    id: String,
    expires_at: i64,
    deliveries: u32,
}

struct Fixture {
    _dir: tempfile::TempDir,
    hub: Hub,
    clock: Arc<ManualClock>,
    name: HubName,
    device: DeviceId,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db.sqlite")).unwrap();
    let logs = dir.path().join("logs");
    let open_log: LogOpener = Arc::new(move |hub: &HubName| {
        let log = SegmentLog::open(LogConfig::new(logs.join(hub.as_str())))?;
        Ok::<Arc<dyn TelemetryLog>, HubError>(Arc::new(log))
    });
    let clock = Arc::new(ManualClock::new(
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
    ));
    let name = HubName::new("model").unwrap();
    let config = HubConfig {
        default_hub: name.clone(),
        default_hostnames: vec!["model.test".into()],
    };
    let hub = Hub::open(Arc::new(store), open_log, clock.clone(), config)
        .await
        .unwrap();
    let device = DeviceId::new("dev").unwrap();
    hub.put_identity(
        &name,
        &Identity::device(device.clone()),
        IdentitySpec::default(),
        None,
    )
    .await
    .unwrap();
    Fixture {
        _dir: dir,
        hub,
        clock,
        name,
        device,
    }
}

async fn run(ops: Vec<Op>) {
    let f = fixture().await;
    let mut now: i64 = 0;
    let mut model: Vec<Queued> = Vec::new();
    let mut in_flight: Vec<(String, String)> = Vec::new(); // (lock token, message id)
    let mut sent = 0u32;
    for op in ops {
        match op {
            Op::Send(ttl) => {
                let id = format!("m{sent}");
                sent += 1;
                let message = C2dSend {
                    body: Bytes::from_static(b"x"),
                    properties: vec![],
                    message_id: Some(id.clone()),
                    correlation_id: None,
                    user_id: None,
                    content_type: None,
                    content_encoding: None,
                    ack: Ack::None,
                    ttl: Some(Duration::from_secs(ttl)),
                };
                let result = f.hub.send_c2d(&f.name, &f.device, message).await;
                if model.len() >= DEFAULT_MAX_QUEUE_DEPTH {
                    assert!(
                        matches!(result, Err(HubError::QueueFull(..))),
                        "the 51st message is refused"
                    );
                } else {
                    result.unwrap();
                    let ttl = i64::try_from(ttl).unwrap();
                    model.push(Queued {
                        id,
                        expires_at: now + ttl,
                        deliveries: 0,
                    });
                }
            }
            Op::Deliver => {
                let tokens: HashSet<String> = in_flight.iter().map(|(t, _)| t.clone()).collect();
                let flying: HashSet<&str> = in_flight.iter().map(|(_, id)| id.as_str()).collect();
                // The model: expired or exhausted messages ahead of the first deliverable one
                // are dead-lettered; that one is delivered and counted.
                let mut expected = None;
                let mut keep = Vec::new();
                for q in model.drain(..) {
                    if expected.is_some() || flying.contains(q.id.as_str()) {
                        keep.push(q);
                    } else if q.expires_at <= now || q.deliveries >= DEFAULT_MAX_DELIVERY_COUNT {
                        // dead-lettered
                    } else {
                        let mut q = q;
                        q.deliveries += 1;
                        expected = Some((q.id.clone(), q.deliveries > 1));
                        keep.push(q);
                    }
                }
                model = keep;
                let got = f.hub.next_c2d(&f.name, &f.device, &tokens).await.unwrap();
                match (got, expected) {
                    (None, None) => {}
                    (Some(d), Some((id, redelivery))) => {
                        assert!(
                            d.topic.contains(&format!("%24.mid={id}&")),
                            "delivered {} but expected {id}",
                            d.topic
                        );
                        assert_eq!(d.redelivery, redelivery);
                        in_flight.push((d.lock_token, id));
                    }
                    (got, expected) => panic!("delivered {got:?}, model expected {expected:?}"),
                }
            }
            Op::Complete(n) => {
                if in_flight.is_empty() {
                    continue;
                }
                let (token, id) = in_flight.remove(n % in_flight.len());
                f.hub
                    .complete_c2d(&f.name, &f.device, &token)
                    .await
                    .unwrap();
                model.retain(|q| q.id != id);
            }
            Op::Reconnect => in_flight.clear(),
            Op::Purge => {
                let purged = f.hub.purge_c2d(&f.name, &f.device).await.unwrap();
                assert_eq!(purged, model.len() as u64);
                model.clear();
                in_flight.clear();
            }
            Op::Advance(secs) => {
                now += i64::try_from(secs).unwrap();
                f.clock
                    .advance(time::Duration::seconds(i64::try_from(secs).unwrap()));
            }
        }
        let depth = f.hub.c2d_queue_depth(&f.name, &f.device).await.unwrap();
        assert_eq!(depth, model.len() as u64, "queue depth after each step");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_c2d_queue_follows_iot_hubs_rules(ops in proptest::collection::vec(op(), 1..60)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        runtime.block_on(run(ops));
    }
}
