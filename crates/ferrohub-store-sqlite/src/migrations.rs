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
