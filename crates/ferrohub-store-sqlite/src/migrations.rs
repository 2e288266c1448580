//! The schema and its tiny migration runner.
//!
//! The version lives in `PRAGMA user_version`; `MIGRATIONS[i]` takes the schema from version
//! `i` to `i + 1`. Migrations are append-only: never edit one that has shipped.
//! Identity records are stored whole as JSON so adding a field does not need a migration;
//! only the columns the store filters or compares on (etag, status) are broken out.

use ferrohub_store::StoreError;
use rusqlite::{Connection, TransactionBehavior};

use crate::errors::db_err;

const MIGRATIONS: &[&str] = &[
    // 1: initial schema.
    "
    CREATE TABLE hubs (
        name         TEXT PRIMARY KEY NOT NULL,
        hostname     TEXT NOT NULL UNIQUE,
        created_time TEXT NOT NULL
    );
    CREATE TABLE policies (
        hub           TEXT NOT NULL REFERENCES hubs(name) ON DELETE CASCADE,
        name          TEXT NOT NULL,
        primary_key   TEXT NOT NULL,
        secondary_key TEXT NOT NULL,
        rights        TEXT NOT NULL,
        PRIMARY KEY (hub, name)
    );
    -- module_id '' is the device itself, so devices and modules share one key.
    CREATE TABLE identities (
        hub       TEXT NOT NULL,
        device_id TEXT NOT NULL,
        module_id TEXT NOT NULL DEFAULT '',
        etag      TEXT NOT NULL,
        status    TEXT NOT NULL,
        record    TEXT NOT NULL,
        PRIMARY KEY (hub, device_id, module_id)
    );
    CREATE TABLE sessions (
        hub           TEXT NOT NULL,
        device_id     TEXT NOT NULL,
        module_id     TEXT NOT NULL DEFAULT '',
        subscriptions TEXT NOT NULL,
        updated_time  TEXT NOT NULL,
        PRIMARY KEY (hub, device_id, module_id)
    );
    ",
    // 2: twins, cloud-to-device queues and the feedback queue.
    "
    -- module_id '' is the device's own twin, as in identities.
    CREATE TABLE twins (
        hub       TEXT NOT NULL,
        device_id TEXT NOT NULL,
        module_id TEXT NOT NULL DEFAULT '',
        version   INTEGER NOT NULL,
        document  TEXT NOT NULL,
        PRIMARY KEY (hub, device_id, module_id)
    );
    -- seq only grows (AUTOINCREMENT never reuses a rowid), so ORDER BY seq is FIFO per device.
    -- record is the message as JSON without its body (in body) and with a stale delivery
    -- count (delivery_count is the truth, so a delivery attempt rewrites one integer).
    CREATE TABLE c2d (
        seq            INTEGER PRIMARY KEY AUTOINCREMENT,
        hub            TEXT NOT NULL,
        device_id      TEXT NOT NULL,
        lock_token     TEXT NOT NULL,
        delivery_count INTEGER NOT NULL,
        record         TEXT NOT NULL,
        body           BLOB NOT NULL,
        -- Messages are addressed by (hub, device, lock token); this is also that lookup's index.
        UNIQUE (hub, device_id, lock_token)
    );
    CREATE INDEX c2d_by_device ON c2d (hub, device_id, seq);
    -- lock_token / locked_until are NULL while a record is not locked.
    CREATE TABLE feedback (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        hub          TEXT NOT NULL,
        record       TEXT NOT NULL,
        lock_token   TEXT,
        locked_until INTEGER
    );
    CREATE INDEX feedback_by_hub ON feedback (hub, id);
    CREATE INDEX feedback_by_lock ON feedback (lock_token);
    ",
    // 3: hub settings (disableDeviceSAS) and each hub's CA certificates.
    "
    ALTER TABLE hubs ADD COLUMN disable_device_sas INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE ca_certificates (
        hub               TEXT NOT NULL REFERENCES hubs(name) ON DELETE CASCADE,
        name              TEXT NOT NULL,
        etag              TEXT NOT NULL,
        der               BLOB NOT NULL,
        subject           TEXT NOT NULL,
        thumbprint        TEXT NOT NULL,
        expiry            TEXT NOT NULL,
        is_verified       INTEGER NOT NULL,
        verification_code TEXT,
        created_time      TEXT NOT NULL,
        updated_time      TEXT NOT NULL,
        PRIMARY KEY (hub, name)
    );
    ",
    // 4: hub setting disableModuleSAS.
    "
    ALTER TABLE hubs ADD COLUMN disable_module_sas INTEGER NOT NULL DEFAULT 0;
    ",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

fn user_version(conn: &Connection) -> Result<u32, StoreError> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(db_err)
}

/// Brings the schema up to `SCHEMA_VERSION`; a no-op on an up-to-date file.
///
/// Each step reads the version and applies the next migration in one `IMMEDIATE` transaction,
/// so two processes opening a fresh file at once cannot both apply the same step.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let version = user_version(&tx)?;
        if version > SCHEMA_VERSION {
            // Refuse rather than guess: an older build could corrupt a newer schema.
            return Err(StoreError::Unavailable(format!(
                "database schema version {version} is newer than this build supports ({SCHEMA_VERSION})"
            )));
        }
        let Some(sql) = MIGRATIONS.get(version as usize) else {
            return Ok(());
        };
        tx.execute_batch(sql).map_err(db_err)?;
        tx.pragma_update(None, "user_version", version + 1)
            .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        tracing::info!(version = version + 1, "applied storage migration");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn migrating_twice_leaves_the_schema_at_the_latest_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
    }

    /// What a build that only knew migration 1 left on disk.
    fn version_1_database(conn: &mut Connection) {
        let tx = conn.transaction().unwrap();
        tx.execute_batch(MIGRATIONS[0]).unwrap();
        tx.pragma_update(None, "user_version", 1).unwrap();
        tx.commit().unwrap();
    }

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .unwrap();
        stmt.query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn a_version_1_database_upgrades_to_the_latest_keeping_its_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        version_1_database(&mut conn);
        conn.execute(
            "INSERT INTO identities (hub, device_id, module_id, etag, status, record) \
             VALUES ('h', 'd1', '', 'e0', 'enabled', '{}')",
            [],
        )
        .unwrap();
        assert_eq!(
            tables(&conn),
            ["hubs", "identities", "policies", "sessions"]
        );

        migrate(&mut conn).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        assert_eq!(
            tables(&conn),
            [
                "c2d",
                "ca_certificates",
                "feedback",
                "hubs",
                "identities",
                "policies",
                "sessions",
                "twins"
            ]
        );
        let etag: String = conn
            .query_row(
                "SELECT etag FROM identities WHERE device_id = 'd1'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(etag, "e0", "existing rows survive the upgrade");
    }

    /// The whole path a real upgrade takes: a version-1 file on disk, opened by this build.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_version_1_file_opens_and_serves_the_new_tables() {
        use ferrohub_store::conformance::{c2d_message, device_record, hub_name, twin_record};
        use ferrohub_store::{C2dQueues, DeviceId, Registry, Twins};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferrohub.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            version_1_database(&mut conn);
            let record = device_record("upgrade", "d1");
            conn.execute(
                "INSERT INTO identities (hub, device_id, module_id, etag, status, record) \
                 VALUES ('upgrade', 'd1', '', 'e0', 'enabled', ?1)",
                [serde_json::to_string(&record).unwrap()],
            )
            .unwrap();
        }

        let store = crate::SqliteStore::open(&path).unwrap();
        let device = device_record("upgrade", "d1");
        assert_eq!(
            store
                .get_identity(hub_name("upgrade"), device.identity())
                .await
                .unwrap(),
            Some(device.clone()),
            "a device registered before the upgrade is still there"
        );
        let twin = twin_record("upgrade", device.identity(), 1, "after-upgrade");
        store.put_twin(twin.clone(), None).await.unwrap();
        assert_eq!(
            store
                .get_twin(hub_name("upgrade"), device.identity())
                .await
                .unwrap(),
            Some(twin)
        );
        store
            .enqueue_c2d(c2d_message("upgrade", "d1", "a"), 10)
            .await
            .unwrap();
        let d1 = DeviceId::new("d1").unwrap();
        assert_eq!(store.count_c2d(hub_name("upgrade"), d1).await.unwrap(), 1);
        drop(store);

        let conn = Connection::open(&path).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_schema_newer_than_this_build_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(StoreError::Unavailable(_))
        ));
    }
}
