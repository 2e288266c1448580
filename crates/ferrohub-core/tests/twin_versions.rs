//! Model-based property test of twin versions through the hub, on the real SQLite store:
//! random device and back-end writes (some invalid) and restarts; every accepted write moves
//! exactly its versions forward by one, a refused write moves nothing, and a restart changes
//! nothing.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use ferrohub_core::clock::SystemClock;
use ferrohub_core::hub::LogOpener;
use ferrohub_core::registry::IdentitySpec;
use ferrohub_core::twins::TwinWrite;
use ferrohub_core::{Hub, HubConfig, HubError};
use ferrohub_log::{LogConfig, SegmentLog, TelemetryLog};
use ferrohub_protocol::{HubName, Identity};
use ferrohub_store_sqlite::SqliteStore;
use proptest::prelude::*;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
enum Op {
    Reported { key: u8, valid: bool },
    Desired { key: u8, valid: bool },
    Replace,
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..4, any::<bool>()).prop_map(|(key, valid)| Op::Reported { key, valid }),
        4 => (0u8..4, any::<bool>()).prop_map(|(key, valid)| Op::Desired { key, valid }),
        1 => Just(Op::Replace),
        1 => Just(Op::Restart),
    ]
}

/// Opens the hub on the same database; each opening gets its own telemetry directory, since
/// the previous log may still be closing (this test is about the store, not the log).
async fn open(dir: &std::path::Path, generation: usize) -> Hub {
    let store = SqliteStore::open(&dir.join("db.sqlite")).unwrap();
    let logs = dir.join(format!("logs-{generation}"));
    let open_log: LogOpener = Arc::new(move |hub: &HubName| {
        let log = SegmentLog::open(LogConfig::new(logs.join(hub.as_str())))?;
        Ok::<Arc<dyn TelemetryLog>, HubError>(Arc::new(log))
    });
    let config = HubConfig {
        default_hub: HubName::new("tv").unwrap(),
        default_hostnames: vec!["tv.test".into()],
    };
    Hub::open(Arc::new(store), open_log, Arc::new(SystemClock), config)
        .await
        .unwrap()
}

fn versions(twin: &Value) -> (u64, u64, u64) {
    (
        twin["version"].as_u64().unwrap(),
        twin["properties"]["desired"]["$version"].as_u64().unwrap(),
        twin["properties"]["reported"]["$version"].as_u64().unwrap(),
    )
}

async fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let name = HubName::new("tv").unwrap();
    let id = Identity::from_client_id("dev").unwrap();
    let mut generation = 0;
    let mut hub = open(dir.path(), generation).await;
    hub.put_identity(&name, &id, IdentitySpec::default(), None)
        .await
        .unwrap();
    let mut model = versions(&hub.service_twin(&name, &id).await.unwrap());
    for op in ops {
        match op {
            Op::Reported { key, valid } => {
                // An invalid key (a '.' in it) is refused.
                let patch = if valid {
                    json!({ format!("r{key}"): key })
                } else {
                    json!({ "bad.key": 1 })
                };
                let result = hub
                    .patch_reported(&name, &id, patch.to_string().as_bytes())
                    .await;
                if valid {
                    let reported = result.map_err(|_| "refused").unwrap();
                    model = (model.0 + 1, model.1, model.2 + 1);
                    assert_eq!(reported, model.2);
                } else {
                    assert!(result.is_err());
                }
            }
            Op::Desired { key, valid } => {
                let body = if valid {
                    json!({"properties": {"desired": { format!("d{key}"): key }}})
                } else {
                    json!({"properties": {"desired": { "$bad": 1 }}})
                };
                let result = hub
                    .write_twin(&name, &id, &body, TwinWrite::Patch, None)
                    .await;
                if valid {
                    result.unwrap();
                    model = (model.0 + 1, model.1 + 1, model.2);
                } else {
                    assert!(result.is_err());
                }
            }
            Op::Replace => {
                let body = json!({"tags": {"t": 1}, "properties": {"desired": {"only": true}}});
                hub.write_twin(&name, &id, &body, TwinWrite::Replace, None)
                    .await
                    .unwrap();
                model = (model.0 + 1, model.1 + 1, model.2);
            }
            Op::Restart => {
                drop(hub);
                generation += 1;
                hub = open(dir.path(), generation).await;
            }
        }
        assert_eq!(
            versions(&hub.service_twin(&name, &id).await.unwrap()),
            model,
            "(twin, desired, reported) versions"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn twin_versions_move_forward_by_one_per_accepted_write_and_survive_restarts(ops in proptest::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        runtime.block_on(run(ops));
    }
}
