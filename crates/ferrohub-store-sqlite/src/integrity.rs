//! SQLite's own verification of the database file, for `ferrohub check`.
//!
//! `PRAGMA integrity_check` reads every page and checks the b-trees, indexes and
//! constraints. The connection is read-only, so a check never changes the file, and it may
//! run beside a server (WAL readers do not block the writer).

use std::path::Path;

use ferrohub_store::StoreError;
use rusqlite::{Connection, OpenFlags};

use crate::connection::BUSY_TIMEOUT;
use crate::errors::db_err;

/// How many problems SQLite lists at most.
const MAX_PROBLEMS: u32 = 100;

/// The problems SQLite finds in the database at `path`; empty when it is sound.
pub fn integrity_problems(path: &Path) -> Result<Vec<String>, StoreError> {
    if !path.is_file() {
        return Err(StoreError::Unavailable(format!(
            "no database at {}",
            path.display()
        )));
    }
    let conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(db_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
    let mut statement = conn
        .prepare(&format!("PRAGMA integrity_check({MAX_PROBLEMS})"))
        .map_err(db_err)?;
    let lines = statement
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(db_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_err)?;
    Ok(if lines == ["ok"] { Vec::new() } else { lines })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_sound_database_has_no_problems_and_a_damaged_one_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
                 CREATE INDEX t_v ON t (v);",
            )
            .unwrap();
            for i in 0..2000 {
                conn.execute("INSERT INTO t (v) VALUES (?1)", [format!("value {i}")])
                    .unwrap();
            }
        }
        assert_eq!(integrity_problems(&path).unwrap(), Vec::<String>::new());
        // Overwrite the middle of the file (table and index pages) with garbage.
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle..middle + 4096].fill(0x5A);
        std::fs::write(&path, &bytes).unwrap();
        let problems = match integrity_problems(&path) {
            Ok(problems) => problems,
            Err(e) => vec![e.to_string()],
        };
        assert!(!problems.is_empty());
        assert!(integrity_problems(&dir.path().join("missing")).is_err());
    }
}
