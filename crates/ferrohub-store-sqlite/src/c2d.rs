//! Per-device cloud-to-device queues on SQLite.
//!
//! One row per message. The message is stored as JSON without its body, which sits in a BLOB
//! column so a large payload is not inflated by JSON encoding; the delivery count has its own
//! column so a delivery attempt rewrites one integer. `seq` is an AUTOINCREMENT key, so it
//! only grows and `ORDER BY seq` is each device's FIFO order.

use ferrohub_store::{C2dMessage, C2dQueues, DeviceId, HubName, StoreError, StoreFuture};
use rusqlite::{Connection, OptionalExtension, params};

use crate::errors::{corrupt, db_err};
use crate::store::SqliteStore;

fn limit_column(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn count_value(count: i64) -> Result<u64, StoreError> {
    u64::try_from(count).map_err(|e| corrupt("queue length", e))
}

/// Decodes a row's (delivery_count, record, body) back into the message.
fn decode(delivery_count: i64, record: &str, body: Vec<u8>) -> Result<C2dMessage, StoreError> {
    let mut message: C2dMessage =
        serde_json::from_str(record).map_err(|e| corrupt("cloud-to-device message", e))?;
    message.delivery_count =
        u32::try_from(delivery_count).map_err(|e| corrupt("delivery count", e))?;
    message.body = body;
    Ok(message)
}

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, Vec<u8>)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn count(conn: &Connection, hub: &HubName, device: &DeviceId) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM c2d WHERE hub = ?1 AND device_id = ?2")
        .map_err(db_err)?
        .query_row(params![hub.as_str(), device.as_str()], |row| row.get(0))
        .map_err(db_err)?;
    count_value(n)
}

/// The device check, the depth check and the insert share one `BEGIN IMMEDIATE` transaction,
/// so concurrent enqueues cannot overshoot `max_depth` or land after the device was deleted.
fn enqueue(
    conn: &mut Connection,
    mut message: C2dMessage,
    max_depth: usize,
) -> Result<(), StoreError> {
    let body = std::mem::take(&mut message.body);
    let record = serde_json::to_string(&message).map_err(|e| {
        StoreError::Unavailable(format!("cannot encode cloud-to-device message: {e}"))
    })?;
    let tx = conn.savepoint().map_err(db_err)?;
    let device_exists = tx
        .prepare_cached(
            "SELECT 1 FROM identities WHERE hub = ?1 AND device_id = ?2 AND module_id = ''",
        )
        .map_err(db_err)?
        .query_row(
            params![message.hub.as_str(), message.device.as_str()],
            |_| Ok(()),
        )
        .optional()
        .map_err(db_err)?
        .is_some();
    if !device_exists {
        return Err(StoreError::NotFound);
    }
    let depth = count(&tx, &message.hub, &message.device)?;
    if depth >= u64::try_from(max_depth).unwrap_or(u64::MAX) {
        return Err(StoreError::QueueFull);
    }
    // A lock token already queued for this device violates a UNIQUE key: `db_err` maps it to
    // Conflict.
    tx.prepare_cached(
        "INSERT INTO c2d (hub, device_id, lock_token, delivery_count, record, body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .map_err(db_err)?
    .execute(params![
        message.hub.as_str(),
        message.device.as_str(),
        message.lock_token,
        i64::from(message.delivery_count),
        record,
        body,
    ])
    .map_err(db_err)?;
    tx.commit().map_err(db_err)
}

fn remove(
    conn: &mut Connection,
    hub: &HubName,
    device: &DeviceId,
    lock_token: &str,
) -> Result<Option<C2dMessage>, StoreError> {
    let tx = conn.savepoint().map_err(db_err)?;
    let key = params![hub.as_str(), device.as_str(), lock_token];
    let row = tx
        .prepare_cached(
            "SELECT delivery_count, record, body FROM c2d \
             WHERE hub = ?1 AND device_id = ?2 AND lock_token = ?3",
        )
        .map_err(db_err)?
        .query_row(key, read_row)
        .optional()
        .map_err(db_err)?;
    let Some((delivery_count, record, body)) = row else {
        return Ok(None);
    };
    let message = decode(delivery_count, &record, body)?;
    tx.prepare_cached("DELETE FROM c2d WHERE hub = ?1 AND device_id = ?2 AND lock_token = ?3")
        .map_err(db_err)?
        .execute(key)
        .map_err(db_err)?;
    tx.commit().map_err(db_err)?;
    Ok(Some(message))
}

impl C2dQueues for SqliteStore {
    fn enqueue_c2d(&self, message: C2dMessage, max_depth: usize) -> StoreFuture<()> {
        self.write(move |conn| enqueue(conn, message, max_depth))
    }

    fn peek_c2d(
        &self,
        hub: HubName,
        device: DeviceId,
        limit: usize,
    ) -> StoreFuture<Vec<C2dMessage>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT delivery_count, record, body FROM c2d \
                     WHERE hub = ?1 AND device_id = ?2 ORDER BY seq LIMIT ?3",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map(
                    params![hub.as_str(), device.as_str(), limit_column(limit)],
                    read_row,
                )
                .map_err(db_err)?;
            rows.map(|row| {
                let (delivery_count, record, body) = row.map_err(db_err)?;
                decode(delivery_count, &record, body)
            })
            .collect()
        })
    }

    fn set_c2d_delivery_count(
        &self,
        hub: HubName,
        device: DeviceId,
        lock_token: String,
        delivery_count: u32,
    ) -> StoreFuture<()> {
        self.write(move |conn| {
            let updated = conn
                .prepare_cached(
                    "UPDATE c2d SET delivery_count = ?4 \
                     WHERE hub = ?1 AND device_id = ?2 AND lock_token = ?3",
                )
                .map_err(db_err)?
                .execute(params![
                    hub.as_str(),
                    device.as_str(),
                    lock_token,
                    i64::from(delivery_count)
                ])
                .map_err(db_err)?;
            if updated == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
    }

    fn remove_c2d(
        &self,
        hub: HubName,
        device: DeviceId,
        lock_token: String,
    ) -> StoreFuture<Option<C2dMessage>> {
        self.write(move |conn| remove(conn, &hub, &device, &lock_token))
    }

    fn purge_c2d(&self, hub: HubName, device: DeviceId) -> StoreFuture<u64> {
        self.write(move |conn| {
            let removed = conn
                .prepare_cached("DELETE FROM c2d WHERE hub = ?1 AND device_id = ?2")
                .map_err(db_err)?
                .execute(params![hub.as_str(), device.as_str()])
                .map_err(db_err)?;
            Ok(u64::try_from(removed).unwrap_or(u64::MAX))
        })
    }

    fn count_c2d(&self, hub: HubName, device: DeviceId) -> StoreFuture<u64> {
        self.read(move |conn| count(conn, &hub, &device))
    }
}
