//! What must hold across a restart: data survives reopening, and reopening does not re-run
//! or break migrations.

#![allow(clippy::unwrap_used)]

use ferrohub_store::conformance::{
    c2d_message, ca_certificate_record, device_record, feedback_record, hub_name, module_record,
    twin_record,
};
use ferrohub_store::{
    C2dQueues, CaCertificates, DeviceId, Feedback, HubCatalog, HubRecord, PersistentSession,
    Registry, Rights, Sessions, SharedAccessPolicy, StoreError, Twins,
};
use ferrohub_store_sqlite::{SCHEMA_VERSION, SqliteStore};

fn user_version(path: &std::path::Path) -> u32 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn data_survives_closing_and_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("ferrohub.db");
    let device = device_record("survive", "d1");
    let module = module_record("survive", "d1", "m1");
    let hub = HubRecord {
        name: hub_name("survive"),
        hostname: "survive.example.net".into(),
        created_time: "2024-01-01T00:00:00Z".into(),
        disable_device_sas: false,
        disable_module_sas: false,
    };
    let policy = SharedAccessPolicy {
        hub: hub_name("survive"),
        name: "iothubowner".into(),
        primary_key: "p".into(),
        secondary_key: "s".into(),
        rights: Rights::all(),
    };
    let session = PersistentSession {
        hub: hub_name("survive"),
        identity: device.identity(),
        subscriptions: vec!["devices/d1/messages/devicebound/#".into()],
        updated_time: "2024-01-01T00:00:00Z".into(),
    };
    let ca = ca_certificate_record("survive", "root");
    {
        let store = SqliteStore::open(&path).unwrap();
        store.put_hub(hub.clone()).await.unwrap();
        store.put_policy(policy.clone()).await.unwrap();
        store.create_identity(device.clone()).await.unwrap();
        store.create_identity(module.clone()).await.unwrap();
        store.put_session(session.clone()).await.unwrap();
        store
            .update_hub(HubRecord {
                disable_device_sas: true,
                disable_module_sas: true,
                ..hub.clone()
            })
            .await
            .unwrap();
        store.create_ca_certificate(ca.clone()).await.unwrap();
    }

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.hubs().await.unwrap(),
        [HubRecord {
            disable_device_sas: true,
            disable_module_sas: true,
            ..hub
        }]
    );
    assert_eq!(
        store
            .list_ca_certificates(hub_name("survive"))
            .await
            .unwrap(),
        [ca]
    );
    assert_eq!(store.policies(hub_name("survive")).await.unwrap(), [policy]);
    assert_eq!(
        store
            .get_identity(hub_name("survive"), device.identity())
            .await
            .unwrap(),
        Some(device.clone())
    );
    assert_eq!(
        store
            .get_identity(hub_name("survive"), module.identity())
            .await
            .unwrap(),
        Some(module)
    );
    assert_eq!(
        store
            .get_session(hub_name("survive"), device.identity())
            .await
            .unwrap(),
        Some(session)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn twins_queues_and_feedback_survive_closing_and_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferrohub.db");
    let hub = "survive-c2d";
    let device = device_record(hub, "d1");
    let module = module_record(hub, "d1", "m1");
    let device_twin = twin_record(hub, device.identity(), 2, "device");
    let module_twin = twin_record(hub, module.identity(), 1, "module");
    let messages = [
        c2d_message(hub, "d1", "b"),
        c2d_message(hub, "d1", "a"),
        c2d_message(hub, "d1", "c"),
    ];
    let d1 = || DeviceId::new("d1").unwrap();
    let held_lock;
    {
        let store = SqliteStore::open(&path).unwrap();
        store.create_identity(device.clone()).await.unwrap();
        store.create_identity(module.clone()).await.unwrap();
        store
            .put_twin(twin_record(hub, device.identity(), 1, "old"), None)
            .await
            .unwrap();
        store.put_twin(device_twin.clone(), Some(1)).await.unwrap();
        store.put_twin(module_twin.clone(), None).await.unwrap();
        for message in &messages {
            store.enqueue_c2d(message.clone(), 10).await.unwrap();
        }
        store
            .set_c2d_delivery_count(hub_name(hub), d1(), messages[1].lock_token.clone(), 2)
            .await
            .unwrap();
        store
            .add_feedback(
                hub_name(hub),
                vec![feedback_record("m1"), feedback_record("m2")],
            )
            .await
            .unwrap();
        store
            .add_feedback(hub_name(hub), vec![feedback_record("m3")])
            .await
            .unwrap();
        // Lock the first record until t=1000 so the lock itself must survive too.
        held_lock = store
            .lock_feedback(hub_name(hub), 0, 1_000, 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(held_lock.records, [feedback_record("m1")]);
    }

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store
            .get_twin(hub_name(hub), device.identity())
            .await
            .unwrap(),
        Some(device_twin.clone())
    );
    assert_eq!(
        store.list_twins(hub_name(hub), true).await.unwrap(),
        [module_twin]
    );
    let mut expected = messages.to_vec();
    expected[1].delivery_count = 2;
    assert_eq!(
        store.peek_c2d(hub_name(hub), d1(), 10).await.unwrap(),
        expected,
        "the queue, its order and its delivery counts survive"
    );
    // A twin's version survives too: compare-and-swap continues from it.
    store
        .put_twin(twin_record(hub, device.identity(), 3, "new"), Some(2))
        .await
        .unwrap();

    let rest = store
        .lock_feedback(hub_name(hub), 500, 1_000, 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rest.records,
        [feedback_record("m2"), feedback_record("m3")],
        "the lock held before the restart is still held"
    );
    assert!(
        store
            .complete_feedback(hub_name(hub), held_lock.lock_token, 600)
            .await
            .unwrap(),
        "a lock token from before the restart still completes"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reopening_keeps_the_schema_version_and_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferrohub.db");
    SqliteStore::open(&path)
        .unwrap()
        .create_identity(device_record("reopen", "d1"))
        .await
        .unwrap();
    assert_eq!(user_version(&path), SCHEMA_VERSION);

    for _ in 0..3 {
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(
            store.count_devices(hub_name("reopen")).await.unwrap().total,
            1
        );
    }
    assert_eq!(user_version(&path), SCHEMA_VERSION);
}

#[test]
fn a_database_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferrohub.db");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::Unavailable(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_written_before_disable_module_sas_is_upgraded_and_keeps_its_hubs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferrohub.db");
    let hub = HubRecord {
        name: hub_name("older"),
        hostname: "older.example.net".into(),
        created_time: "2024-01-01T00:00:00Z".into(),
        disable_device_sas: true,
        disable_module_sas: false,
    };
    SqliteStore::open(&path)
        .unwrap()
        .put_hub(hub.clone())
        .await
        .unwrap();
    // As a build with schema version 3 left it.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("ALTER TABLE hubs DROP COLUMN disable_module_sas; PRAGMA user_version = 3;")
        .unwrap();
    drop(conn);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    assert_eq!(store.hubs().await.unwrap(), std::slice::from_ref(&hub));
    let changed = HubRecord {
        disable_module_sas: true,
        ..hub
    };
    store.update_hub(changed.clone()).await.unwrap();
    assert_eq!(store.hubs().await.unwrap(), [changed]);
}
