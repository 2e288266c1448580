//! Persistent MQTT sessions on SQLite; the subscriptions are one JSON array per session.

use ferrohub_store::{HubName, Identity, PersistentSession, Sessions, StoreError, StoreFuture};
use rusqlite::{OptionalExtension, params};

use crate::errors::{corrupt, db_err};
use crate::keys::module_key;
use crate::store::SqliteStore;

impl Sessions for SqliteStore {
    fn put_session(&self, session: PersistentSession) -> StoreFuture<()> {
        self.write(move |conn| {
            let subscriptions = serde_json::to_string(&session.subscriptions).map_err(|e| {
                StoreError::Unavailable(format!("cannot encode subscriptions: {e}"))
            })?;
            conn.prepare_cached(
                "INSERT INTO sessions (hub, device_id, module_id, subscriptions, updated_time) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (hub, device_id, module_id) DO UPDATE SET \
                 subscriptions = excluded.subscriptions, updated_time = excluded.updated_time",
            )
            .map_err(db_err)?
            .execute(params![
                session.hub.as_str(),
                session.identity.device_id.as_str(),
                module_key(&session.identity),
                subscriptions,
                session.updated_time,
            ])
            .map_err(db_err)?;
            Ok(())
        })
    }

    fn get_session(
        &self,
        hub: HubName,
        identity: Identity,
    ) -> StoreFuture<Option<PersistentSession>> {
        self.read(move |conn| {
            let row: Option<(String, String)> = conn
                .prepare_cached(
                    "SELECT subscriptions, updated_time FROM sessions \
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
            let Some((subscriptions, updated_time)) = row else {
                return Ok(None);
            };
            Ok(Some(PersistentSession {
                subscriptions: serde_json::from_str(&subscriptions)
                    .map_err(|e| corrupt("session subscriptions", e))?,
                hub,
                identity,
                updated_time,
            }))
        })
    }

    fn delete_session(&self, hub: HubName, identity: Identity) -> StoreFuture<bool> {
        self.write(move |conn| {
            let deleted = conn
                .prepare_cached(
                    "DELETE FROM sessions WHERE hub = ?1 AND device_id = ?2 AND module_id = ?3",
                )
                .map_err(db_err)?
                .execute(params![
                    hub.as_str(),
                    identity.device_id.as_str(),
                    module_key(&identity)
                ])
                .map_err(db_err)?;
            Ok(deleted > 0)
        })
    }
}
