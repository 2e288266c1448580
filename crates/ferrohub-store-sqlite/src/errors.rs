//! Maps SQLite failures onto `StoreError`, so callers never see a backend-specific error.

use ferrohub_store::StoreError;
use rusqlite::ErrorCode;
use rusqlite::ffi;

/// A database error as the store reports it: key clashes are `Conflict`, everything else is
/// `Unavailable` with SQLite's message (there is nothing more useful a caller could do).
pub(crate) fn db_err(error: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, _) = &error
        && failure.code == ErrorCode::ConstraintViolation
    {
        match failure.extended_code {
            ffi::SQLITE_CONSTRAINT_PRIMARYKEY | ffi::SQLITE_CONSTRAINT_UNIQUE => {
                return StoreError::Conflict;
            }
            // A row pointing at a missing parent (a policy of an unknown hub).
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => return StoreError::NotFound,
            _ => {}
        }
    }
    StoreError::Unavailable(error.to_string())
}

/// A stored value that no longer decodes: the file was damaged or written by something else.
pub(crate) fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("corrupt {what} in the database: {error}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn a_duplicate_primary_key_is_a_conflict() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (k TEXT PRIMARY KEY NOT NULL); INSERT INTO t VALUES ('a');",
        )
        .unwrap();
        let err = conn.execute("INSERT INTO t VALUES ('a')", []).unwrap_err();
        assert_eq!(db_err(err), StoreError::Conflict);
    }

    #[test]
    fn other_sqlite_errors_are_unavailable_with_the_message() {
        let conn = Connection::open_in_memory().unwrap();
        let err = conn.execute("SELECT * FROM missing_table", []).unwrap_err();
        match db_err(err) {
            StoreError::Unavailable(msg) => assert!(msg.contains("missing_table"), "{msg}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
}
