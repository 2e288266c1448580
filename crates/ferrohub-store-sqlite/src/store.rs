//! `SqliteStore`: the connections and the bridge from async callers to blocking SQLite calls.
//!
//! Writes: one writer thread owns the writer connection (SQLite allows one writer anyway).
//! It takes every queued write job, runs each inside its own SAVEPOINT (a failed job rolls
//! back alone), and commits them all with ONE transaction, so concurrent writers share one
//! fsync (group commit) instead of paying one each. A job's result is released only after
//! that commit, so "resolved Ok" still means durable (`synchronous=FULL`).
//!
//! Reads: a fixed set of reader connections serves gets and lists concurrently thanks to
//! WAL, inside `spawn_blocking` so the async runtime's workers never wait on disk.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ferrohub_store::{StoreError, StoreFuture};
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::connection::{open_reader, open_writer};
use crate::migrations::migrate;

/// How many read-only connections serve gets and lists in parallel.
const READERS: usize = 4;
/// Write jobs waiting for the writer thread. Overflow policy: the caller's future waits for
/// room (backpressure), in FIFO order.
const WRITE_QUEUE: usize = 4096;
/// Most jobs committed together; bounds how long one transaction holds the write lock.
const MAX_BATCH: usize = 512;

/// A write job: runs on the writer connection, and returns how to report its outcome once
/// the batch's commit is known.
type WriteJob = Box<dyn FnOnce(&mut Connection) -> Reply + Send>;
type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// The embedded SQLite store. Cheap to clone: clones share the same connections.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    writes: mpsc::Sender<WriteJob>,
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
        let (writes, jobs) = mpsc::channel(WRITE_QUEUE);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run_writer(writer, jobs))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                writes,
                readers,
                next_reader: AtomicUsize::new(0),
            }),
        })
    }

    /// Runs `job` on the writer thread; resolves after the commit that made it durable.
    pub(crate) fn write<T, F>(&self, job: F) -> StoreFuture<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let write: WriteJob = Box::new(move |conn| {
            let outcome = run_in_savepoint(conn, job);
            Box::new(move |commit: Result<(), StoreError>| {
                let result = match (outcome, commit) {
                    (Ok(value), Ok(())) => Ok(value),
                    (Err(e), _) | (Ok(_), Err(e)) => Err(e),
                };
                let _ = tx.send(result);
            })
        });
        let writes = self.inner.writes.clone();
        Box::pin(async move {
            writes
                .send(write)
                .await
                .map_err(|_| StoreError::Unavailable("the storage writer stopped".into()))?;
            rx.await
                .map_err(|_| StoreError::Unavailable("the storage writer stopped".into()))?
        })
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
            // There are always READERS (> 0) readers, so this cannot be reached; the first
            // reader is as good an answer as any rather than a panic.
            None => lock(&self.readers[0]),
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

/// Runs one job inside its own savepoint, so a failing job leaves nothing behind in the
/// shared transaction.
fn run_in_savepoint<T>(
    conn: &mut Connection,
    job: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    // Cached statements: these run for every write job.
    let run = |conn: &mut Connection, sql: &str| -> Result<(), StoreError> {
        conn.prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute([]))
            .map(|_| ())
            .map_err(crate::errors::db_err)
    };
    run(conn, "SAVEPOINT job")?;
    let outcome = job(conn);
    if outcome.is_err() {
        run(conn, "ROLLBACK TO job")?;
    }
    run(conn, "RELEASE job")?;
    outcome
}

/// The writer thread: batches queued jobs into one transaction and one commit.
fn run_writer(mut conn: Connection, mut jobs: mpsc::Receiver<WriteJob>) {
    while let Some(first) = jobs.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let e = crate::errors::db_err(e);
            for job in batch {
                // Not run: report the failure without touching the connection.
                drop(job);
                tracing::warn!(error = %e, "a storage batch could not start");
            }
            continue;
        }
        let replies: Vec<Reply> = batch.into_iter().map(|job| job(&mut conn)).collect();
        let commit = conn.execute_batch("COMMIT").map_err(crate::errors::db_err);
        if commit.is_err() {
            // Leave the connection usable for the next batch.
            let _ = conn.execute_batch("ROLLBACK");
        }
        for reply in replies {
            reply(commit.clone());
        }
    }
}
