//! The per-hub delivery-feedback queue on SQLite.
//!
//! One row per feedback record, in arrival order (`id` is AUTOINCREMENT). A receive locks a
//! batch by writing a fresh lock token and an expiry onto its rows; completing deletes the
//! rows still holding that token and an unexpired lock, abandoning clears the lock. A lock
//! that expired is simply ignored, so the next receive takes the rows over.

use ferrohub_store::{Feedback, FeedbackBatch, FeedbackRecord, HubName, StoreError, StoreFuture};
use rusqlite::{Connection, params};

use crate::errors::{corrupt, db_err};
use crate::store::SqliteStore;

fn add(conn: &mut Connection, hub: &HubName, records: &[FeedbackRecord]) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let tx = conn.savepoint().map_err(db_err)?;
    {
        let mut stmt = tx
            .prepare_cached("INSERT INTO feedback (hub, record) VALUES (?1, ?2)")
            .map_err(db_err)?;
        for record in records {
            let json = serde_json::to_string(record).map_err(|e| {
                StoreError::Unavailable(format!("cannot encode feedback record: {e}"))
            })?;
            stmt.execute(params![hub.as_str(), json]).map_err(db_err)?;
        }
    }
    tx.commit().map_err(db_err)
}

/// Selecting the free rows and locking them share one `BEGIN IMMEDIATE` transaction, so two
/// receives never lock the same record.
fn lock(
    conn: &mut Connection,
    hub: &HubName,
    now_ms: i64,
    lock_ms: i64,
    max: usize,
) -> Result<Option<FeedbackBatch>, StoreError> {
    if max == 0 {
        return Ok(None);
    }
    let tx = conn.savepoint().map_err(db_err)?;
    let rows: Vec<(i64, String)> = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT id, record FROM feedback \
                 WHERE hub = ?1 AND (lock_token IS NULL OR locked_until <= ?2) \
                 ORDER BY id LIMIT ?3",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(
                params![hub.as_str(), now_ms, i64::try_from(max).unwrap_or(i64::MAX)],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(db_err)?;
        rows.collect::<Result<_, _>>().map_err(db_err)?
    };
    if rows.is_empty() {
        return Ok(None);
    }
    let lock_token = uuid::Uuid::new_v4().to_string();
    let locked_until = now_ms.saturating_add(lock_ms);
    let mut records = Vec::with_capacity(rows.len());
    {
        let mut stmt = tx
            .prepare_cached("UPDATE feedback SET lock_token = ?2, locked_until = ?3 WHERE id = ?1")
            .map_err(db_err)?;
        for (id, json) in rows {
            records.push(serde_json::from_str(&json).map_err(|e| corrupt("feedback record", e))?);
            stmt.execute(params![id, lock_token, locked_until])
                .map_err(db_err)?;
        }
    }
    tx.commit().map_err(db_err)?;
    Ok(Some(FeedbackBatch {
        lock_token,
        records,
    }))
}

impl Feedback for SqliteStore {
    fn add_feedback(&self, hub: HubName, records: Vec<FeedbackRecord>) -> StoreFuture<()> {
        self.write(move |conn| add(conn, &hub, &records))
    }

    fn lock_feedback(
        &self,
        hub: HubName,
        now_ms: i64,
        lock_ms: i64,
        max: usize,
    ) -> StoreFuture<Option<FeedbackBatch>> {
        self.write(move |conn| lock(conn, &hub, now_ms, lock_ms, max))
    }

    fn complete_feedback(
        &self,
        hub: HubName,
        lock_token: String,
        now_ms: i64,
    ) -> StoreFuture<bool> {
        self.write(move |conn| {
            let deleted = conn
                .execute(
                    "DELETE FROM feedback WHERE hub = ?1 AND lock_token = ?2 AND locked_until > ?3",
                    params![hub.as_str(), lock_token, now_ms],
                )
                .map_err(db_err)?;
            Ok(deleted > 0)
        })
    }

    fn abandon_feedback(&self, hub: HubName, lock_token: String) -> StoreFuture<bool> {
        self.write(move |conn| {
            let unlocked = conn
                .execute(
                    "UPDATE feedback SET lock_token = NULL, locked_until = NULL \
                     WHERE hub = ?1 AND lock_token = ?2",
                    params![hub.as_str(), lock_token],
                )
                .map_err(db_err)?;
            Ok(unlocked > 0)
        })
    }
}
