//! `SegmentLog`: opening a log directory and wiring the pieces (recovery, the writer
//! thread, the read side, consumer groups, retention) behind `TelemetryLog`.
//!
//! It exists as the one public handle the hub holds. It must not contain file-format or
//! batching logic itself; those belong to `segment`/`record` and `writer`.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use crate::checkpoints::ConsumerGroups;
use crate::journal::Journal;
use crate::partition::PartitionIndex;
use crate::writer::{self, AppendRequest, Command, WriterConfig};
use crate::{
    AppendFuture, EventData, LogConfig, LogError, StartPosition, StoredEvent, TelemetryLog, fsutil,
    recover, replay, retention, routing,
};

/// Locks a mutex, ignoring poisoning: every critical section here leaves the data
/// consistent before anything that could panic, so a poisoned lock is still usable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// State shared by the handle and the writer thread.
pub(crate) struct Shared {
    pub partitions: Vec<Mutex<PartitionIndex>>,
    /// One per partition; value = next durable sequence number. A watch keeps only the
    /// latest value (overwrite policy), so a slow reader can never block the writer.
    pub watches: Vec<watch::Sender<u64>>,
    pub fsyncs: AtomicU64,
}

const LAYOUT_FILE: &str = "log.json";
const LAYOUT_FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Layout {
    format: u32,
    partitions: u32,
}

struct Inner {
    config: LogConfig,
    shared: Arc<Shared>,
    /// `None` after shutdown. Bounded: see `APPEND_QUEUE_CAPACITY` (backpressure).
    sender: Mutex<Option<mpsc::Sender<Command>>>,
    /// Becomes `true` when the writer thread has exited.
    writer_stopped: watch::Receiver<bool>,
    groups: ConsumerGroups,
    /// Holds the advisory lock on `<dir>/LOCK` for the life of the log.
    _dir_lock: File,
}

/// The file-backed telemetry log. Cheap to clone; all clones share one log.
#[derive(Clone)]
pub struct SegmentLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SegmentLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentLog")
            .field("dir", &self.inner.config.dir)
            .field("partitions", &self.inner.config.partitions)
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock_dir(dir: &Path) -> Result<File, LogError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join("LOCK"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(LogError::DirectoryInUse(dir.to_path_buf())),
        Err(TryLockError::Error(e)) => Err(e.into()),
    }
}

/// The partition count recorded in the log's layout file; `None` if there is none (not a
/// log directory, or one never opened).
pub(crate) fn recorded_partitions(dir: &Path) -> Result<Option<u32>, LogError> {
    let path = dir.join(LAYOUT_FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            let layout: Layout = serde_json::from_slice(&bytes)
                .map_err(|e| LogError::corrupt(&path, e.to_string()))?;
            if layout.format != LAYOUT_FORMAT {
                return Err(LogError::corrupt(
                    &path,
                    format!("unsupported log format {}", layout.format),
                ));
            }
            Ok(Some(layout.partitions))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Refuses to reopen a log with a different partition count (devices would be routed to
/// other partitions than their history); records the count on first open.
fn check_layout(dir: &Path, partitions: u32, fsync: bool) -> Result<(), LogError> {
    match recorded_partitions(dir)? {
        Some(on_disk) if on_disk != partitions => Err(LogError::PartitionCountMismatch {
            on_disk,
            configured: partitions,
        }),
        Some(_) => Ok(()),
        None => {
            let layout = Layout {
                format: LAYOUT_FORMAT,
                partitions,
            };
            let json = serde_json::to_vec_pretty(&layout)
                .map_err(|e| LogError::Io(std::io::Error::other(e)))?;
            fsutil::write_atomic(&dir.join(LAYOUT_FILE), &json, fsync)?;
            Ok(())
        }
    }
}

/// Opens the commit journal, restores from it what the partitions lost, then syncs every
/// partition's active segment (a previous run may have left records there that only the
/// journal made durable) and starts a new lap, so the writer begins with an empty journal.
fn open_journal(
    config: &LogConfig,
    recovered: &mut [recover::Recovered],
) -> Result<Journal, LogError> {
    let (mut journal, entries) = Journal::open(&config.dir, config.journal_bytes)?;
    replay::replay(&config.dir, entries, recovered)?;
    for part in recovered.iter() {
        if let Some(active) = part.index.segments.last() {
            File::open(&active.path)?.sync_all()?;
        }
    }
    journal.checkpoint()?;
    Ok(journal)
}

pub(crate) fn partition_dir(dir: &Path, partition: u32) -> PathBuf {
    dir.join("partitions").join(partition.to_string())
}

impl SegmentLog {
    /// Opens (creating if needed) the log in `config.dir`, recovering every partition:
    /// the index is rebuilt by scanning the segments and a torn tail of the last segment
    /// is truncated. Must be called outside of async code paths that cannot block, as
    /// recovery reads files synchronously.
    pub fn open(config: LogConfig) -> Result<SegmentLog, LogError> {
        config.validate()?;
        fs::create_dir_all(&config.dir)?;
        let dir_lock = lock_dir(&config.dir)?;
        check_layout(&config.dir, config.partitions, config.fsync)?;

        let mut recovered = (0..config.partitions)
            .map(|p| recover::recover_partition(&partition_dir(&config.dir, p), config.fsync))
            .collect::<Result<Vec<_>, _>>()?;
        let journal = if config.fsync {
            Some(open_journal(&config, &mut recovered)?)
        } else {
            None
        };
        let groups = ConsumerGroups::open(&config.dir, config.partitions, config.fsync)?;

        let watches = recovered
            .iter()
            .map(|r| watch::Sender::new(r.index.next_seq))
            .collect();
        // Bounded: `append_queue` requests (default APPEND_QUEUE_CAPACITY); a full queue
        // makes `append` wait.
        let (tx, rx) = mpsc::channel(config.append_queue);
        let (stopped_tx, stopped_rx) = watch::channel(false);
        let writer_cfg = WriterConfig {
            segment_max_bytes: config.segment_max_bytes,
            fsync: config.fsync,
        };
        let writer = writer::Writer::new(&recovered, journal, writer_cfg)?;
        let shared = Arc::new(Shared {
            partitions: recovered.into_iter().map(|r| Mutex::new(r.index)).collect(),
            watches,
            fsyncs: AtomicU64::new(0),
        });
        writer.spawn(rx, Arc::clone(&shared), move || {
            stopped_tx.send_replace(true);
        })?;

        Ok(SegmentLog {
            inner: Arc::new(Inner {
                config,
                shared,
                sender: Mutex::new(Some(tx)),
                writer_stopped: stopped_rx,
                groups,
                _dir_lock: dir_lock,
            }),
        })
    }

    /// Stops accepting appends, lets the writer finish every append queued before it
    /// (they resolve normally; appends that were still waiting for queue room resolve
    /// with `LogError::Closed`) and waits for the writer thread to exit. Appends issued
    /// after this fail with `LogError::Closed`. Idempotent.
    pub async fn shutdown(&self) {
        let sender = lock(&self.inner.sender).take();
        if let Some(sender) = sender {
            // Waits for queue room like any append; fails only if the writer is gone.
            let _ = sender.send(Command::Stop).await;
        }
        let mut stopped = self.inner.writer_stopped.clone();
        // Err only if the writer's sender vanished, which also means it has exited.
        let _ = stopped.wait_for(|stopped| *stopped).await;
    }

    /// Number of fsyncs the writer has issued (for observing group commit).
    pub fn fsync_count(&self) -> u64 {
        self.inner.shared.fsyncs.load(Ordering::Relaxed)
    }

    pub fn config(&self) -> &LogConfig {
        &self.inner.config
    }

    fn index(&self, partition: u32) -> Result<&Mutex<PartitionIndex>, LogError> {
        self.inner
            .shared
            .partitions
            .get(partition as usize)
            .ok_or(LogError::UnknownPartition(partition))
    }
}

impl TelemetryLog for SegmentLog {
    fn partition_count(&self) -> u32 {
        self.inner.config.partitions
    }

    fn partition_for(&self, key: &str) -> u32 {
        routing::partition_for_key(key, self.inner.config.partitions)
    }

    fn append(&self, partition: u32, event: EventData) -> AppendFuture {
        if partition >= self.inner.config.partitions {
            return AppendFuture::failed(LogError::UnknownPartition(partition));
        }
        // Enqueued now, at the call, not at first poll: callers issue appends in arrival
        // order and a device's records must land in that order (futures may be first polled
        // in any order). Only when the queue is full does the future wait for room, in FIFO
        // order among waiters.
        let Some(sender) = lock(&self.inner.sender).clone() else {
            return AppendFuture::failed(LogError::Closed);
        };
        // oneshot: capacity 1, the writer sends exactly one result.
        let (reply, receipt) = oneshot::channel();
        let request = Command::Append(AppendRequest {
            partition,
            event,
            reply,
        });
        match sender.try_send(request) {
            Ok(()) => AppendFuture::queued(receipt),
            Err(mpsc::error::TrySendError::Full(request)) => {
                // Take a place among the queue's waiters now, not at this future's first
                // poll: an append issued after this one (the device's next message) must not
                // find room first and overtake it. This first poll uses a no-op waker; the
                // caller's polls supply the real one and keep the place.
                let mut send: Pin<Box<dyn Future<Output = Result<(), LogError>> + Send>> = Box::pin(
                    async move { sender.send(request).await.map_err(|_| LogError::Closed) },
                );
                match send.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                    Poll::Ready(Ok(())) => AppendFuture::queued(receipt),
                    Poll::Ready(Err(e)) => AppendFuture::failed(e),
                    Poll::Pending => AppendFuture::waiting_for_room(send, receipt),
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => AppendFuture::failed(LogError::Closed),
        }
    }

    fn read(
        &self,
        partition: u32,
        start: StartPosition,
        max: usize,
    ) -> Result<Vec<StoredEvent>, LogError> {
        let plan = lock(self.index(partition)?).plan_read(start, max);
        plan.execute(partition)
    }

    fn next_sequence_number(&self, partition: u32) -> Result<u64, LogError> {
        Ok(lock(self.index(partition)?).next_seq)
    }

    fn watch(&self, partition: u32) -> Result<watch::Receiver<u64>, LogError> {
        self.inner
            .shared
            .watches
            .get(partition as usize)
            .map(watch::Sender::subscribe)
            .ok_or(LogError::UnknownPartition(partition))
    }

    fn create_consumer_group(&self, name: &str) -> Result<(), LogError> {
        self.inner.groups.create(name)
    }

    fn delete_consumer_group(&self, name: &str) -> Result<(), LogError> {
        self.inner.groups.delete(name)
    }

    fn consumer_groups(&self) -> Result<Vec<String>, LogError> {
        Ok(self.inner.groups.list())
    }

    fn checkpoint(&self, group: &str, partition: u32) -> Result<Option<u64>, LogError> {
        self.inner.groups.get(group, partition)
    }

    fn commit_checkpoint(
        &self,
        group: &str,
        partition: u32,
        next_sequence_number: u64,
    ) -> Result<(), LogError> {
        self.inner
            .groups
            .commit(group, partition, next_sequence_number)
    }

    fn enforce_retention(&self, now_ms: i64) -> Result<usize, LogError> {
        let cutoff = now_ms.saturating_sub(self.inner.config.retention_ms());
        let mut removed = 0;
        for index in &self.inner.shared.partitions {
            removed += retention::enforce(&mut lock(index), cutoff, self.inner.config.fsync)?;
        }
        Ok(removed)
    }
}
