//! What must hold across a restart: data survives reopening, and reopening does not re-run
//! or break migrations.

#![allow(clippy::unwrap_used)]

use ferrohub_store::conformance::{device_record, hub_name, module_record};
use ferrohub_store::{
    HubCatalog, HubRecord, PersistentSession, Registry, Rights, Sessions, SharedAccessPolicy,
    StoreError,
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
    {
        let store = SqliteStore::open(&path).unwrap();
        store.put_hub(hub.clone()).await.unwrap();
        store.put_policy(policy.clone()).await.unwrap();
        store.create_identity(device.clone()).await.unwrap();
        store.create_identity(module.clone()).await.unwrap();
        store.put_session(session.clone()).await.unwrap();
    }

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.hubs().await.unwrap(), [hub]);
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
