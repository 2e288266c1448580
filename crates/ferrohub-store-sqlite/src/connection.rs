//! Opening a connection with the settings every connection of the store needs.

use std::path::Path;
use std::time::Duration;

use ferrohub_store::StoreError;
use rusqlite::Connection;

use crate::errors::db_err;

/// How long a connection waits for another one's lock before giving up with `SQLITE_BUSY`.
/// Writers are serialised in-process, so this only matters against other processes or
/// WAL checkpoints.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens (creating if needed) the writer connection and switches the file to WAL.
pub(crate) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(db_err)?;
    configure(&conn)?;
    // WAL lets the readers keep reading while the writer commits.
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(db_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "could not switch {} to WAL mode (got {mode})",
            path.display()
        )));
    }
    Ok(conn)
}

/// Opens a reader connection; `query_only` guards against a read path writing by mistake.
pub(crate) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(db_err)?;
    configure(&conn)?;
    conn.pragma_update(None, "query_only", true)
        .map_err(db_err)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
    // Every hot statement is prepared once per connection and reused.
    conn.set_prepared_statement_cache_capacity(64);
    // FULL fsyncs the WAL on every commit: when a call resolves Ok the change survives a crash
    // or power loss. A device told "created" or a session told "subscribed" must stay so;
    // NORMAL could lose the last commits on power loss, which is not an acceptable trade here.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(db_err)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(db_err)?;
    Ok(())
}
