//! Each hub's CA certificates on SQLite. Compare-and-swap writes read the stored etag and
//! change the row inside the same write job, which the single writer runs in one savepoint,
//! so no other writer can come between the check and the change.

use ferrohub_store::{
    CaCertificateName, CaCertificateRecord, CaCertificates, HubName, Precondition, StoreError,
    StoreFuture,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::errors::{corrupt, db_err};
use crate::store::SqliteStore;

const COLUMNS: &str = "hub, name, der, subject, thumbprint, expiry, is_verified, etag, \
                       verification_code, created_time, updated_time";

fn from_row(row: &Row<'_>) -> rusqlite::Result<RawRecord> {
    Ok(RawRecord {
        hub: row.get(0)?,
        name: row.get(1)?,
        der: row.get(2)?,
        subject: row.get(3)?,
        thumbprint: row.get(4)?,
        expiry: row.get(5)?,
        is_verified: row.get(6)?,
        etag: row.get(7)?,
        verification_code: row.get(8)?,
        created_time: row.get(9)?,
        updated_time: row.get(10)?,
    })
}

/// A row before its names are validated (rusqlite closures cannot return our errors).
struct RawRecord {
    hub: String,
    name: String,
    der: Vec<u8>,
    subject: String,
    thumbprint: String,
    expiry: String,
    is_verified: bool,
    etag: String,
    verification_code: Option<String>,
    created_time: String,
    updated_time: String,
}

impl RawRecord {
    fn into_record(self) -> Result<CaCertificateRecord, StoreError> {
        Ok(CaCertificateRecord {
            hub: HubName::new(self.hub).map_err(|e| corrupt("hub name", e))?,
            name: CaCertificateName::new(self.name).map_err(|e| corrupt("certificate name", e))?,
            der: self.der,
            subject: self.subject,
            thumbprint: self.thumbprint,
            expiry: self.expiry,
            is_verified: self.is_verified,
            etag: self.etag,
            verification_code: self.verification_code,
            created_time: self.created_time,
            updated_time: self.updated_time,
        })
    }
}

fn stored(
    conn: &Connection,
    hub: &HubName,
    name: &CaCertificateName,
) -> Result<Option<CaCertificateRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM ca_certificates WHERE hub = ?1 AND name = ?2");
    conn.prepare_cached(&sql)
        .map_err(db_err)?
        .query_row(params![hub.as_str(), name.as_str()], from_row)
        .optional()
        .map_err(db_err)?
        .map(RawRecord::into_record)
        .transpose()
}

fn write_row(conn: &Connection, sql: &str, record: &CaCertificateRecord) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .map_err(db_err)?
        .execute(params![
            record.hub.as_str(),
            record.name.as_str(),
            record.der,
            record.subject,
            record.thumbprint,
            record.expiry,
            record.is_verified,
            record.etag,
            record.verification_code,
            record.created_time,
            record.updated_time,
        ])
        .map_err(db_err)?;
    Ok(())
}

impl CaCertificates for SqliteStore {
    fn create_ca_certificate(&self, record: CaCertificateRecord) -> StoreFuture<()> {
        self.write(move |conn| {
            // A taken (hub, name) is a primary-key violation (Conflict); an unknown hub fails
            // the foreign key (NotFound).
            let sql = format!(
                "INSERT INTO ca_certificates ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            );
            write_row(conn, &sql, &record)
        })
    }

    fn update_ca_certificate(
        &self,
        record: CaCertificateRecord,
        precondition: Precondition,
    ) -> StoreFuture<()> {
        self.write(move |conn| {
            let current = stored(conn, &record.hub, &record.name)?.ok_or(StoreError::NotFound)?;
            if !precondition.allows(&current.etag) {
                return Err(StoreError::PreconditionFailed);
            }
            write_row(
                conn,
                "UPDATE ca_certificates SET der = ?3, subject = ?4, thumbprint = ?5, expiry = ?6, \
                 is_verified = ?7, etag = ?8, verification_code = ?9, created_time = ?10, \
                 updated_time = ?11 WHERE hub = ?1 AND name = ?2",
                &record,
            )
        })
    }

    fn get_ca_certificate(
        &self,
        hub: HubName,
        name: CaCertificateName,
    ) -> StoreFuture<Option<CaCertificateRecord>> {
        self.read(move |conn| stored(conn, &hub, &name))
    }

    fn list_ca_certificates(&self, hub: HubName) -> StoreFuture<Vec<CaCertificateRecord>> {
        self.read(move |conn| {
            let sql = format!("SELECT {COLUMNS} FROM ca_certificates WHERE hub = ?1 ORDER BY name");
            let mut stmt = conn.prepare_cached(&sql).map_err(db_err)?;
            let rows = stmt
                .query_map(params![hub.as_str()], from_row)
                .map_err(db_err)?;
            rows.map(|row| row.map_err(db_err)?.into_record()).collect()
        })
    }

    fn delete_ca_certificate(
        &self,
        hub: HubName,
        name: CaCertificateName,
        precondition: Precondition,
    ) -> StoreFuture<CaCertificateRecord> {
        self.write(move |conn| {
            let current = stored(conn, &hub, &name)?.ok_or(StoreError::NotFound)?;
            if !precondition.allows(&current.etag) {
                return Err(StoreError::PreconditionFailed);
            }
            conn.prepare_cached("DELETE FROM ca_certificates WHERE hub = ?1 AND name = ?2")
                .map_err(db_err)?
                .execute(params![hub.as_str(), name.as_str()])
                .map_err(db_err)?;
            Ok(current)
        })
    }
}
