//! The identity registry on SQLite. Writes that check before they change (module needs its
//! device, etag compare-and-swap) run in one `BEGIN IMMEDIATE` transaction, so the check and
//! the change cannot be split by another writer.

use ferrohub_store::{
    DeviceCounts, DeviceId, DeviceRecord, DeviceStatus, HubName, Identity, Precondition, Registry,
    StoreError, StoreFuture,
};
use rusqlite::{Connection, OptionalExtension, Savepoint, params};

use crate::errors::{corrupt, db_err};
use crate::keys::module_key;
use crate::store::SqliteStore;

fn status_text(status: DeviceStatus) -> &'static str {
    match status {
        DeviceStatus::Enabled => "enabled",
        DeviceStatus::Disabled => "disabled",
    }
}

fn encode(record: &DeviceRecord) -> Result<String, StoreError> {
    serde_json::to_string(record)
        .map_err(|e| StoreError::Unavailable(format!("cannot encode identity: {e}")))
}

fn decode(json: &str) -> Result<DeviceRecord, StoreError> {
    serde_json::from_str(json).map_err(|e| corrupt("identity record", e))
}

fn immediate(conn: &mut Connection) -> Result<Savepoint<'_>, StoreError> {
    conn.savepoint().map_err(db_err)
}

/// The stored (etag, record JSON) of one identity, if present.
fn stored(
    conn: &Connection,
    hub: &HubName,
    identity: &Identity,
) -> Result<Option<(String, String)>, StoreError> {
    conn.prepare_cached(
        "SELECT etag, record FROM identities WHERE hub = ?1 AND device_id = ?2 AND module_id = ?3",
    )
    .map_err(db_err)?
    .query_row(
        params![
            hub.as_str(),
            identity.device_id.as_str(),
            module_key(identity)
        ],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .optional()
    .map_err(db_err)
}

fn decode_all(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<DeviceRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_err)?;
    let rows = stmt
        .query_map(params, |row| row.get::<_, String>(0))
        .map_err(db_err)?;
    rows.map(|json| decode(&json.map_err(db_err)?)).collect()
}

fn create(conn: &mut Connection, record: &DeviceRecord) -> Result<(), StoreError> {
    let identity = record.identity();
    let tx = immediate(conn)?;
    if identity.module_id.is_some()
        && stored(
            &tx,
            &record.hub,
            &Identity::device(record.device_id.clone()),
        )?
        .is_none()
    {
        return Err(StoreError::NotFound);
    }
    // A duplicate key surfaces as a primary-key violation, which `db_err` maps to Conflict.
    tx.prepare_cached("INSERT INTO identities (hub, device_id, module_id, etag, status, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6)").map_err(db_err)?.execute(
        params![
            record.hub.as_str(),
            record.device_id.as_str(),
            module_key(&identity),
            record.etag,
            status_text(record.status),
            encode(record)?,
        ],
    )
    .map_err(db_err)?;
    tx.commit().map_err(db_err)
}

fn update(
    conn: &mut Connection,
    record: &DeviceRecord,
    precondition: &Precondition,
) -> Result<(), StoreError> {
    let identity = record.identity();
    let tx = immediate(conn)?;
    let (etag, _) = stored(&tx, &record.hub, &identity)?.ok_or(StoreError::NotFound)?;
    if !precondition.allows(&etag) {
        return Err(StoreError::PreconditionFailed);
    }
    tx.prepare_cached("UPDATE identities SET etag = ?4, status = ?5, record = ?6 WHERE hub = ?1 AND device_id = ?2 AND module_id = ?3").map_err(db_err)?.execute(
        params![
            record.hub.as_str(),
            record.device_id.as_str(),
            module_key(&identity),
            record.etag,
            status_text(record.status),
            encode(record)?,
        ],
    )
    .map_err(db_err)?;
    tx.commit().map_err(db_err)
}

fn delete(
    conn: &mut Connection,
    hub: &HubName,
    identity: &Identity,
    precondition: &Precondition,
) -> Result<DeviceRecord, StoreError> {
    let tx = immediate(conn)?;
    let (etag, json) = stored(&tx, hub, identity)?.ok_or(StoreError::NotFound)?;
    if !precondition.allows(&etag) {
        return Err(StoreError::PreconditionFailed);
    }
    let record = decode(&json)?;
    if identity.module_id.is_some() {
        let key = params![
            hub.as_str(),
            identity.device_id.as_str(),
            module_key(identity)
        ];
        tx.prepare_cached(
            "DELETE FROM identities WHERE hub = ?1 AND device_id = ?2 AND module_id = ?3",
        )
        .map_err(db_err)?
        .execute(key)
        .map_err(db_err)?;
        tx.prepare_cached(
            "DELETE FROM sessions WHERE hub = ?1 AND device_id = ?2 AND module_id = ?3",
        )
        .map_err(db_err)?
        .execute(key)
        .map_err(db_err)?;
        tx.prepare_cached("DELETE FROM twins WHERE hub = ?1 AND device_id = ?2 AND module_id = ?3")
            .map_err(db_err)?
            .execute(key)
            .map_err(db_err)?;
    } else {
        // A device takes its modules, every session and twin of itself and its modules, and
        // its cloud-to-device queue with it.
        let key = params![hub.as_str(), identity.device_id.as_str()];
        tx.prepare_cached("DELETE FROM identities WHERE hub = ?1 AND device_id = ?2")
            .map_err(db_err)?
            .execute(key)
            .map_err(db_err)?;
        tx.prepare_cached("DELETE FROM sessions WHERE hub = ?1 AND device_id = ?2")
            .map_err(db_err)?
            .execute(key)
            .map_err(db_err)?;
        tx.prepare_cached("DELETE FROM twins WHERE hub = ?1 AND device_id = ?2")
            .map_err(db_err)?
            .execute(key)
            .map_err(db_err)?;
        tx.prepare_cached("DELETE FROM c2d WHERE hub = ?1 AND device_id = ?2")
            .map_err(db_err)?
            .execute(key)
            .map_err(db_err)?;
    }
    tx.commit().map_err(db_err)?;
    Ok(record)
}

fn list_devices(
    conn: &Connection,
    hub: &HubName,
    after: Option<&DeviceId>,
    limit: usize,
) -> Result<Vec<DeviceRecord>, StoreError> {
    // SQLite's default BINARY collation orders by bytes, the same order as `DeviceId`'s `Ord`.
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    match after {
        Some(after) => decode_all(
            conn,
            "SELECT record FROM identities WHERE hub = ?1 AND module_id = '' AND device_id > ?2 \
             ORDER BY device_id LIMIT ?3",
            params![hub.as_str(), after.as_str(), limit],
        ),
        None => decode_all(
            conn,
            "SELECT record FROM identities WHERE hub = ?1 AND module_id = '' ORDER BY device_id LIMIT ?2",
            params![hub.as_str(), limit],
        ),
    }
}

fn count(conn: &Connection, hub: &HubName) -> Result<DeviceCounts, StoreError> {
    let (total, enabled, disabled): (i64, i64, i64) = conn
        .prepare_cached("SELECT COUNT(*), COALESCE(SUM(status = 'enabled'), 0), COALESCE(SUM(status = 'disabled'), 0) \
             FROM identities WHERE hub = ?1 AND module_id = ''").map_err(db_err)?.query_row(
            params![hub.as_str()],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .map_err(db_err)?;
    let non_negative = |n: i64| u64::try_from(n).map_err(|e| corrupt("device count", e));
    Ok(DeviceCounts {
        total: non_negative(total)?,
        enabled: non_negative(enabled)?,
        disabled: non_negative(disabled)?,
    })
}

impl Registry for SqliteStore {
    fn create_identity(&self, record: DeviceRecord) -> StoreFuture<DeviceRecord> {
        self.write(move |conn| create(conn, &record).map(|()| record))
    }

    fn update_identity(
        &self,
        record: DeviceRecord,
        precondition: Precondition,
    ) -> StoreFuture<DeviceRecord> {
        self.write(move |conn| update(conn, &record, &precondition).map(|()| record))
    }

    fn get_identity(&self, hub: HubName, identity: Identity) -> StoreFuture<Option<DeviceRecord>> {
        self.read(move |conn| {
            stored(conn, &hub, &identity)?
                .map(|(_, json)| decode(&json))
                .transpose()
        })
    }

    fn delete_identity(
        &self,
        hub: HubName,
        identity: Identity,
        precondition: Precondition,
    ) -> StoreFuture<DeviceRecord> {
        self.write(move |conn| delete(conn, &hub, &identity, &precondition))
    }

    fn list_devices(
        &self,
        hub: HubName,
        after: Option<DeviceId>,
        limit: usize,
    ) -> StoreFuture<Vec<DeviceRecord>> {
        self.read(move |conn| list_devices(conn, &hub, after.as_ref(), limit))
    }

    fn list_modules(&self, hub: HubName, device: DeviceId) -> StoreFuture<Vec<DeviceRecord>> {
        self.read(move |conn| {
            decode_all(
                conn,
                "SELECT record FROM identities WHERE hub = ?1 AND device_id = ?2 AND module_id <> '' \
                 ORDER BY module_id",
                params![hub.as_str(), device.as_str()],
            )
        })
    }

    fn count_devices(&self, hub: HubName) -> StoreFuture<DeviceCounts> {
        self.read(move |conn| count(conn, &hub))
    }

    fn self_signed_thumbprints(&self) -> StoreFuture<Vec<String>> {
        self.read(self_signed_thumbprints)
    }
}

/// Read once at start (a scan of the registry; the records are JSON, so SQLite's JSON
/// functions pick the two fields out without decoding whole records).
fn self_signed_thumbprints(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut statement = conn
        .prepare_cached(
            "SELECT json_extract(record, '$.authentication.primary_thumbprint'), \
                    json_extract(record, '$.authentication.secondary_thumbprint') \
             FROM identities WHERE json_extract(record, '$.authentication.kind') = 'selfSigned'",
        )
        .map_err(db_err)?;
    let rows = statement
        .query_map([], |row| {
            Ok([
                row.get::<_, Option<String>>(0)?,
                row.get::<_, Option<String>>(1)?,
            ])
        })
        .map_err(db_err)?;
    let mut thumbprints = Vec::new();
    for row in rows {
        thumbprints.extend(row.map_err(db_err)?.into_iter().flatten());
    }
    Ok(thumbprints)
}
