//! Device and module twins on SQLite. The document is stored as opaque JSON text; only the
//! version is broken out, because it is what compare-and-swap compares.

use ferrohub_store::{
    DeviceId, HubName, Identity, ModuleId, StoreError, StoreFuture, TwinRecord, Twins,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::errors::{corrupt, db_err};
use crate::keys::module_key;
use crate::store::SqliteStore;

/// The twin version as SQLite stores it (INTEGER is a signed 64-bit value).
fn version_column(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| {
        StoreError::Unavailable(format!("twin version {version} is too large to store"))
    })
}

fn version_value(column: i64) -> Result<u64, StoreError> {
    u64::try_from(column).map_err(|e| corrupt("twin version", e))
}

fn encode(document: &serde_json::Value) -> Result<String, StoreError> {
    serde_json::to_string(document)
        .map_err(|e| StoreError::Unavailable(format!("cannot encode twin document: {e}")))
}

fn decode(json: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(json).map_err(|e| corrupt("twin document", e))
}

fn stored_version(
    conn: &Connection,
    hub: &HubName,
    identity: &Identity,
) -> Result<Option<i64>, StoreError> {
    conn.prepare_cached(
        "SELECT version FROM twins WHERE hub = ?1 AND device_id = ?2 AND module_id = ?3",
    )
    .map_err(db_err)?
    .query_row(
        params![
            hub.as_str(),
            identity.device_id.as_str(),
            module_key(identity)
        ],
        |row| row.get(0),
    )
    .optional()
    .map_err(db_err)
}

fn identity_exists(
    conn: &Connection,
    hub: &HubName,
    identity: &Identity,
) -> Result<bool, StoreError> {
    conn.prepare_cached(
        "SELECT 1 FROM identities WHERE hub = ?1 AND device_id = ?2 AND module_id = ?3",
    )
    .map_err(db_err)?
    .query_row(
        params![
            hub.as_str(),
            identity.device_id.as_str(),
            module_key(identity)
        ],
        |_| Ok(()),
    )
    .optional()
    .map_err(db_err)
    .map(|found| found.is_some())
}

/// Inserts or compare-and-swaps one twin. The identity check, the version check and the write
/// share one `BEGIN IMMEDIATE` transaction, so no other writer can slip in between.
fn put(
    conn: &mut Connection,
    record: &TwinRecord,
    expected_version: Option<u64>,
) -> Result<(), StoreError> {
    let version = version_column(record.version)?;
    let document = encode(&record.document)?;
    let tx = conn.savepoint().map_err(db_err)?;
    if !identity_exists(&tx, &record.hub, &record.identity)? {
        return Err(StoreError::NotFound);
    }
    let stored = stored_version(&tx, &record.hub, &record.identity)?;
    let key = (
        record.hub.as_str(),
        record.identity.device_id.as_str(),
        module_key(&record.identity),
    );
    match (expected_version, stored) {
        (None, Some(_)) => return Err(StoreError::Conflict),
        (None, None) => {
            tx.prepare_cached(
                "INSERT INTO twins (hub, device_id, module_id, version, document) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(db_err)?
            .execute(params![key.0, key.1, key.2, version, document])
            .map_err(db_err)?;
        }
        (Some(_), None) => return Err(StoreError::NotFound),
        (Some(expected), Some(stored)) => {
            if version_value(stored)? != expected {
                return Err(StoreError::PreconditionFailed);
            }
            tx.prepare_cached(
                "UPDATE twins SET version = ?4, document = ?5 \
                 WHERE hub = ?1 AND device_id = ?2 AND module_id = ?3",
            )
            .map_err(db_err)?
            .execute(params![key.0, key.1, key.2, version, document])
            .map_err(db_err)?;
        }
    }
    tx.commit().map_err(db_err)
}

fn list(conn: &Connection, hub: &HubName, modules: bool) -> Result<Vec<TwinRecord>, StoreError> {
    // SQLite's BINARY collation orders by bytes, the same order as the id types' `Ord`.
    let sql = if modules {
        "SELECT device_id, module_id, version, document FROM twins \
         WHERE hub = ?1 AND module_id <> '' ORDER BY device_id, module_id"
    } else {
        "SELECT device_id, module_id, version, document FROM twins \
         WHERE hub = ?1 AND module_id = '' ORDER BY device_id, module_id"
    };
    let mut stmt = conn.prepare_cached(sql).map_err(db_err)?;
    let rows = stmt
        .query_map(params![hub.as_str()], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, String>(3)?,
            ))
        })
        .map_err(db_err)?;
    rows.map(|row| {
        let (device_id, module_id, version, document) = row.map_err(db_err)?;
        let device_id = DeviceId::new(device_id).map_err(|e| corrupt("twin device id", e))?;
        let module_id = if module_id.is_empty() {
            None
        } else {
            Some(ModuleId::new(module_id).map_err(|e| corrupt("twin module id", e))?)
        };
        Ok(TwinRecord {
            hub: hub.clone(),
            identity: Identity {
                device_id,
                module_id,
            },
            version: version_value(version)?,
            document: decode(&document)?,
        })
    })
    .collect()
}

impl Twins for SqliteStore {
    fn get_twin(&self, hub: HubName, identity: Identity) -> StoreFuture<Option<TwinRecord>> {
        self.read(move |conn| {
            let row: Option<(i64, String)> = conn
                .prepare_cached(
                    "SELECT version, document FROM twins \
                     WHERE hub = ?1 AND device_id = ?2 AND module_id = ?3",
                )
                .map_err(db_err)?
                .query_row(
                    params![
                        hub.as_str(),
                        identity.device_id.as_str(),
                        module_key(&identity)
                    ],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(db_err)?;
            let Some((version, document)) = row else {
                return Ok(None);
            };
            Ok(Some(TwinRecord {
                hub,
                identity,
                version: version_value(version)?,
                document: decode(&document)?,
            }))
        })
    }

    fn put_twin(&self, record: TwinRecord, expected_version: Option<u64>) -> StoreFuture<()> {
        self.write(move |conn| put(conn, &record, expected_version))
    }

    fn list_twins(&self, hub: HubName, modules: bool) -> StoreFuture<Vec<TwinRecord>> {
        self.read(move |conn| list(conn, &hub, modules))
    }
}
