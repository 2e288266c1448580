//! Hubs and shared access policies on SQLite.

use ferrohub_store::{HubCatalog, HubName, HubRecord, Rights, SharedAccessPolicy, StoreFuture};
use rusqlite::params;

use crate::errors::{corrupt, db_err};
use crate::store::SqliteStore;

impl HubCatalog for SqliteStore {
    fn put_hub(&self, hub: HubRecord) -> StoreFuture<()> {
        self.write(move |conn| {
            // A taken name or host name violates a key, which `db_err` maps to Conflict.
            conn.execute(
                "INSERT INTO hubs (name, hostname, created_time, disable_device_sas, disable_module_sas) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    hub.name.as_str(),
                    hub.hostname,
                    hub.created_time,
                    hub.disable_device_sas,
                    hub.disable_module_sas
                ],
            )
            .map_err(db_err)?;
            Ok(())
        })
    }

    fn hubs(&self) -> StoreFuture<Vec<HubRecord>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT name, hostname, created_time, disable_device_sas, disable_module_sas \
                     FROM hubs ORDER BY name",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                })
                .map_err(db_err)?;
            rows.map(|row| {
                let (name, hostname, created_time, disable_device_sas, disable_module_sas) =
                    row.map_err(db_err)?;
                Ok(HubRecord {
                    name: HubName::new(name).map_err(|e| corrupt("hub name", e))?,
                    hostname,
                    created_time,
                    disable_device_sas,
                    disable_module_sas,
                })
            })
            .collect()
        })
    }

    fn update_hub(&self, hub: HubRecord) -> StoreFuture<()> {
        self.write(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE hubs SET disable_device_sas = ?2, disable_module_sas = ?3 WHERE name = ?1",
                    params![
                        hub.name.as_str(),
                        hub.disable_device_sas,
                        hub.disable_module_sas
                    ],
                )
                .map_err(db_err)?;
            if changed == 0 {
                return Err(ferrohub_store::StoreError::NotFound);
            }
            Ok(())
        })
    }

    fn put_policy(&self, policy: SharedAccessPolicy) -> StoreFuture<()> {
        self.write(move |conn| {
            // The foreign key to `hubs` turns a policy of an unknown hub into NotFound.
            conn.execute(
                "INSERT INTO policies (hub, name, primary_key, secondary_key, rights) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (hub, name) DO UPDATE SET primary_key = excluded.primary_key, \
                 secondary_key = excluded.secondary_key, rights = excluded.rights",
                params![
                    policy.hub.as_str(),
                    policy.name,
                    policy.primary_key,
                    policy.secondary_key,
                    policy.rights.to_string(),
                ],
            )
            .map_err(db_err)?;
            Ok(())
        })
    }

    fn policies(&self, hub: HubName) -> StoreFuture<Vec<SharedAccessPolicy>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT name, primary_key, secondary_key, rights FROM policies WHERE hub = ?1 ORDER BY name",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![hub.as_str()], |row| {
                    Ok((row.get::<_, String>(0)?, row.get(1)?, row.get(2)?, row.get::<_, String>(3)?))
                })
                .map_err(db_err)?;
            rows.map(|row| {
                let (name, primary_key, secondary_key, rights) = row.map_err(db_err)?;
                Ok(SharedAccessPolicy {
                    hub: hub.clone(),
                    name,
                    primary_key,
                    secondary_key,
                    rights: rights.parse::<Rights>().map_err(|e| corrupt("policy rights", e))?,
                })
            })
            .collect()
        })
    }
}
