//! `SqliteStore`: the connections and the bridge from async callers to blocking SQLite calls.
//!
//! One writer connection behind a mutex serialises all writes (SQLite allows only one writer
//! anyway, and serialising in-process avoids `SQLITE_BUSY` churn). A fixed set of reader
//! connections serves gets and lists concurrently thanks to WAL. Every call runs inside
//! `spawn_blocking` so the async runtime's workers never wait on disk; the number of
//! connections bounds how many calls touch SQLite at once, and each caller awaits its own
//! result, so there is no queue that can grow without bound.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ferrohub_store::{StoreError, StoreFuture};
use rusqlite::Connection;

use crate::connection::{open_reader, open_writer};
use crate::migrations::migrate;

/// How many read-only connections serve gets and lists in parallel.
const READERS: usize = 4;

/// The embedded SQLite store. Cheap to clone: clones share the same connections.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

/// A panic while holding a connection leaves no half-done transaction behind (rusqlite rolls
/// back on drop), so a poisoned lock is safe to keep using.
fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file (and its directory) and applying
    /// migrations as needed. Blocking: call it at start-up, before serving.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let mut writer = open_writer(path)?;
        migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| open_reader(path).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                writer: Mutex::new(writer),
                readers,
                next_reader: AtomicUsize::new(0),
            }),
        })
    }

    /// Runs `job` on the writer connection off the async runtime.
    pub(crate) fn write<T, F>(&self, job: F) -> StoreFuture<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        Box::pin(run_blocking(move || job(&mut lock(&inner.writer))))
    }

    /// Runs `job` on a reader connection off the async runtime.
    pub(crate) fn read<T, F>(&self, job: F) -> StoreFuture<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        Box::pin(run_blocking(move || job(&inner.reader())))
    }
}

impl Inner {
    /// A free reader if there is one, otherwise the next in turn (waiting for it).
    fn reader(&self) -> MutexGuard<'_, Connection> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let n = self.readers.len();
        for i in 0..n {
            if let Some(conn) = self.readers.get((start + i) % n)
                && let Ok(guard) = conn.try_lock()
            {
                return guard;
            }
        }
        match self.readers.get(start % n) {
            Some(conn) => lock(conn),
            // There are always READERS (> 0) readers; fall back to the writer rather than panic.
            None => lock(&self.writer),
        }
    }
}

async fn run_blocking<T, F>(job: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| StoreError::Unavailable(format!("storage task failed: {e}")))?
}
