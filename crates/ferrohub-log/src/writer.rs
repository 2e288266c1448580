//! The group-commit writer: one dedicated thread that owns every segment file's write
//! handle and the commit journal.
//!
//! It exists so that many concurrent appends share one fsync: it drains all queued
//! requests, writes them (buffered, per partition) to the segment files, makes the batch
//! durable with one journal commit (see `journal`), then publishes the records to
//! readers, bumps the watches and resolves every request.
//! It must not resolve a request before its record is durable, must never hand out a
//! receipt for a batch that failed, and must not block on anything async (it is a plain
//! std thread using `blocking_recv`).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::mem;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

use crate::journal::Journal;
use crate::log::{Shared, lock};
use crate::partition::Published;
use crate::record;
use crate::recover::Recovered;
use crate::segment::{self, SEGMENT_HEADER_LEN};
use crate::writeback::Writeback;
use crate::{AppendReceipt, EventData, LogError};

/// Capacity of the append queue (requests, not bytes). Overflow policy: backpressure —
/// `append` futures wait for a free slot; nothing is dropped.
pub const APPEND_QUEUE_CAPACITY: usize = 8192;

/// Most requests handled in one batch (one fsync). Bounds the memory of a batch and how
/// long the first request in it waits.
const MAX_BATCH: usize = APPEND_QUEUE_CAPACITY;

/// One queued append. `reply` is a oneshot (capacity 1, exactly one message ever).
pub(crate) struct AppendRequest {
    pub partition: u32,
    pub event: EventData,
    pub reply: Reply,
}

pub(crate) type Reply = oneshot::Sender<Result<AppendReceipt, LogError>>;

/// What travels over the append queue.
pub(crate) enum Command {
    Append(AppendRequest),
    /// Sent by `shutdown`: finish what is queued ahead of it, then exit. Needed because
    /// futures that still wait for queue room hold sender clones, so "all senders
    /// dropped" alone could keep the writer (and `shutdown`) waiting forever.
    Stop,
}

#[derive(Clone, Copy)]
pub(crate) struct WriterConfig {
    pub segment_max_bytes: u64,
    pub fsync: bool,
}

/// The segment currently appended to.
struct Active {
    path: PathBuf,
    file: File,
    base_seq: u64,
    base_offset: u64,
    /// Logical length: bytes on disk plus bytes still in `Partition::buf`.
    len: u64,
    records: u64,
    writeback: Writeback,
}

/// What was durable after the last successful batch; rollback target.
#[derive(Clone)]
struct Committed {
    path: PathBuf,
    base_seq: u64,
    base_offset: u64,
    len: u64,
    records: u64,
    next_seq: u64,
    last_time: i64,
}

/// Write-side state of one partition (owned by the writer thread only).
struct Partition {
    id: u32,
    dir: PathBuf,
    active: Active,
    next_seq: u64,
    last_time: i64,
    committed: Committed,
    /// Encoded records not yet written to `active.file`.
    buf: Vec<u8>,
    /// Changes to publish once the batch is durable.
    staged: Vec<Published>,
    /// Segment files created during the current batch (deleted on rollback).
    created: Vec<PathBuf>,
    touched: bool,
    /// Written since the last checkpoint without its file being synced (only the journal
    /// holds those records durably).
    dirty: bool,
    /// Set when a failed batch could not be rolled back; the partition then refuses
    /// appends until the log is reopened (recovery repairs the tail).
    broken: Option<String>,
}

enum StageError {
    /// Only this request is refused (e.g. too large); the batch goes on.
    Rejected(LogError),
    /// The file system failed; the whole batch fails.
    Io(io::Error),
}

fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

impl Partition {
    fn from_recovered(id: u32, rec: &Recovered) -> io::Result<Self> {
        let seg = rec
            .index
            .segments
            .last()
            .ok_or_else(|| io::Error::other("recovered partition without a segment"))?;
        let file = OpenOptions::new().append(true).open(&seg.path)?;
        let committed = Committed {
            path: seg.path.clone(),
            base_seq: seg.base_seq,
            base_offset: seg.base_offset,
            len: seg.len,
            records: seg.records,
            next_seq: rec.index.next_seq,
            last_time: rec.last_time,
        };
        Ok(Partition {
            id,
            dir: rec.index.dir.clone(),
            active: Active {
                path: seg.path.clone(),
                file,
                base_seq: seg.base_seq,
                base_offset: seg.base_offset,
                len: seg.len,
                records: seg.records,
                writeback: Writeback::from(seg.len),
            },
            next_seq: committed.next_seq,
            last_time: committed.last_time,
            committed,
            buf: Vec::new(),
            staged: Vec::new(),
            created: Vec::new(),
            touched: false,
            dirty: false,
            broken: None,
        })
    }

    /// Encodes one event into the batch buffer, rolling to a new segment first if the
    /// record would push the active one past its limit.
    fn stage(
        &mut self,
        event: &EventData,
        now: i64,
        cfg: WriterConfig,
        shared: &Shared,
        journal: Option<&mut Journal>,
    ) -> Result<AppendReceipt, StageError> {
        let size = record::encoded_len(event).map_err(StageError::Rejected)? as u64;
        self.touched = true;
        if self.active.records > 0 && self.active.len + size > cfg.segment_max_bytes {
            self.roll(cfg, shared).map_err(StageError::Io)?;
        }
        let seq = self.next_seq;
        let time = now.max(self.last_time);
        let pos = self.active.len;
        let start = self.buf.len();
        record::encode_into(seq, time, event, &mut self.buf);
        if let Some(journal) = journal {
            journal.stage(self.id, self.active.base_offset + pos, &self.buf[start..]);
        }
        self.active.len += size;
        self.active.records += 1;
        self.next_seq += 1;
        self.last_time = time;
        self.staged.push(Published::Record {
            seq,
            time,
            pos,
            len: size,
        });
        Ok(AppendReceipt {
            partition: self.id,
            sequence_number: seq,
            offset: self.active.base_offset + pos,
            enqueued_time_ms: time,
        })
    }

    /// Seals the active segment (flush + sync) and starts a new one.
    fn roll(&mut self, cfg: WriterConfig, shared: &Shared) -> io::Result<()> {
        self.write_buffered()?;
        if cfg.fsync {
            self.active.file.sync_data()?;
            shared.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        let base_seq = self.next_seq;
        let base_offset = self.active.base_offset + self.active.len;
        let (file, path) = segment::create(&self.dir, base_seq, base_offset, cfg.fsync)?;
        self.created.push(path.clone());
        self.staged.push(Published::NewSegment {
            path: path.clone(),
            base_seq,
            base_offset,
        });
        self.active = Active {
            path,
            file,
            base_seq,
            base_offset,
            len: SEGMENT_HEADER_LEN,
            records: 0,
            writeback: Writeback::from(0),
        };
        Ok(())
    }

    /// Writes the buffered records to the active segment (not yet durable), and has the
    /// kernel start writing them back once a chunk is full, so the checkpoint at the end of
    /// the journal's lap finds little left to sync (see `writeback`).
    fn write_buffered(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.active.file.write_all(&self.buf)?;
            self.buf.clear();
            self.active
                .writeback
                .written(&self.active.file, self.active.len);
        }
        Ok(())
    }

    /// The batch is durable: remember it as the rollback point and hand over the changes
    /// (drained, so the list keeps its room for the next batch).
    fn commit(&mut self) -> std::vec::Drain<'_, Published> {
        self.committed = Committed {
            path: self.active.path.clone(),
            base_seq: self.active.base_seq,
            base_offset: self.active.base_offset,
            len: self.active.len,
            records: self.active.records,
            next_seq: self.next_seq,
            last_time: self.last_time,
        };
        self.created.clear();
        self.touched = false;
        self.staged.drain(..)
    }

    /// The batch failed: undo everything it did so the file ends at the last durable
    /// record and the next batch reuses the same sequence numbers.
    fn rollback(&mut self, cfg: WriterConfig) {
        self.buf.clear();
        self.staged.clear();
        self.touched = false;
        if let Err(e) = self.try_rollback(cfg) {
            tracing::error!(
                partition = self.id,
                error = %e,
                "could not roll back a failed telemetry batch; partition disabled until reopen"
            );
            self.broken = Some(format!(
                "partition {} disabled after failed rollback: {e}",
                self.id
            ));
        }
    }

    fn try_rollback(&mut self, cfg: WriterConfig) -> io::Result<()> {
        for path in mem::take(&mut self.created) {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let c = self.committed.clone();
        if self.active.path != c.path {
            self.active.file = OpenOptions::new().append(true).open(&c.path)?;
        }
        self.active.file.set_len(c.len)?;
        if cfg.fsync {
            self.active.file.sync_data()?;
        }
        self.active.path = c.path;
        self.active.base_seq = c.base_seq;
        self.active.base_offset = c.base_offset;
        self.active.len = c.len;
        self.active.records = c.records;
        self.active.writeback.cut(c.len);
        self.next_seq = c.next_seq;
        self.last_time = c.last_time;
        Ok(())
    }
}

/// The writer before its thread starts: write handles opened for every recovered
/// partition (done first so open errors surface from `SegmentLog::open`).
pub(crate) struct Writer {
    partitions: Vec<Partition>,
    /// `None` when fsync is off: nothing is made durable then.
    journal: Option<Journal>,
    cfg: WriterConfig,
    /// A batch's replies with their receipts (empty between batches; kept for its room).
    pending: Vec<(Reply, Option<AppendReceipt>)>,
}

impl Writer {
    pub(crate) fn new(
        recovered: &[Recovered],
        journal: Option<Journal>,
        cfg: WriterConfig,
    ) -> io::Result<Writer> {
        let partitions = recovered
            .iter()
            .zip(0u32..)
            .map(|(rec, id)| Partition::from_recovered(id, rec))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Writer {
            partitions,
            journal,
            cfg,
            pending: Vec::new(),
        })
    }

    /// Starts the thread. It processes batches until it receives `Command::Stop` or every
    /// sender is gone (the log was dropped); requests still queued after that are dropped,
    /// which resolves them with `LogError::Closed`. Then it checkpoints (so a clean stop
    /// leaves nothing to replay) and calls `on_exit` (also if it panics, so `shutdown`
    /// never waits forever).
    pub(crate) fn spawn(
        self,
        rx: mpsc::Receiver<Command>,
        shared: Arc<Shared>,
        on_exit: impl FnOnce() + Send + 'static,
    ) -> io::Result<()> {
        struct OnExit<F: FnOnce()>(Option<F>);
        impl<F: FnOnce()> Drop for OnExit<F> {
            fn drop(&mut self) {
                if let Some(f) = self.0.take() {
                    f();
                }
            }
        }
        std::thread::Builder::new()
            .name("ferrohub-log-writer".into())
            .spawn(move || {
                let _guard = OnExit(Some(on_exit));
                let mut state = self;
                run(rx, &mut state, &shared);
                if let Some(journal) = &mut state.journal
                    && let Err(e) = checkpoint(&mut state.partitions, journal, &shared)
                {
                    tracing::warn!(error = %e, "telemetry log checkpoint at shutdown failed; the journal is replayed at the next start");
                }
            })?;
        Ok(())
    }
}

fn run(mut rx: mpsc::Receiver<Command>, writer: &mut Writer, shared: &Shared) {
    let mut batch = Vec::new();
    let mut stop = false;
    while !stop {
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Append(req) => batch.push(req),
                Command::Stop => {
                    stop = true;
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        process_batch(&mut batch, writer, shared);
    }
    // Refuse what is still queued: senders see a closed channel, queued replies are
    // dropped (-> `LogError::Closed`) when `rx` goes out of scope.
    rx.close();
}

fn process_batch(batch: &mut Vec<AppendRequest>, writer: &mut Writer, shared: &Shared) {
    let now = now_ms();
    let cfg = writer.cfg;
    let partitions = &mut writer.partitions;
    // Requests staged in this batch; the receipt is `None` once the batch has failed. The
    // list is the writer's, reused from batch to batch.
    let mut pending = mem::take(&mut writer.pending);
    let mut failure: Option<io::Error> = None;

    for req in batch.drain(..) {
        let Some(part) = partitions.get_mut(req.partition as usize) else {
            let _ = req
                .reply
                .send(Err(LogError::UnknownPartition(req.partition)));
            continue;
        };
        if let Some(why) = &part.broken {
            let _ = req
                .reply
                .send(Err(LogError::Io(io::Error::other(why.clone()))));
            continue;
        }
        if failure.is_some() {
            pending.push((req.reply, None));
            continue;
        }
        match part.stage(&req.event, now, cfg, shared, writer.journal.as_mut()) {
            Ok(receipt) => pending.push((req.reply, Some(receipt))),
            // The receiver may have given up (dropped future); nothing to do then.
            Err(StageError::Rejected(e)) => {
                let _ = req.reply.send(Err(e));
            }
            Err(StageError::Io(e)) => {
                failure = Some(e);
                pending.push((req.reply, None));
            }
        }
    }

    if failure.is_none() {
        failure = make_durable(partitions, writer.journal.as_mut(), shared).err();
    }

    match failure {
        None => {
            for part in partitions.iter_mut().filter(|p| p.touched) {
                let id = part.id as usize;
                let next_seq = {
                    let mut index = lock(&shared.partitions[id]);
                    index.publish(part.commit());
                    index.next_seq
                };
                // watch: holds only the latest value; readers never block the writer.
                shared.watches[id].send_replace(next_seq);
            }
            for (reply, receipt) in pending.drain(..) {
                let result = receipt.ok_or(LogError::Closed);
                let _ = reply.send(result);
            }
        }
        Some(e) => {
            tracing::error!(error = %e, requests = pending.len(), "telemetry batch write failed");
            for part in partitions.iter_mut().filter(|p| p.touched) {
                part.rollback(cfg);
            }
            if let Some(journal) = &mut writer.journal {
                journal.discard();
                // The failed batch's entries may have reached the journal file with valid
                // checksums; a new lap makes sure they are never replayed.
                if let Err(e) = checkpoint(partitions, journal, shared) {
                    tracing::error!(error = %e, "could not checkpoint after a failed batch; telemetry log disabled until reopen");
                    for part in partitions.iter_mut() {
                        part.broken = Some(format!(
                            "telemetry log disabled after a failed checkpoint: {e}"
                        ));
                    }
                }
            }
            for (reply, _) in pending.drain(..) {
                let _ = reply.send(Err(LogError::Io(io::Error::new(e.kind(), e.to_string()))));
            }
        }
    }
    writer.pending = pending;
}

/// Writes every touched partition's records to its segment file, then makes the batch
/// durable with one journal commit: one fdatasync, however many partitions it touched.
/// A batch too large for the rest of the journal's lap is made durable by a checkpoint
/// instead (every written partition file synced).
///
/// (Running the journal's fdatasync on a helper thread while the partition files are written
/// was measured: no gain at 1 or 16 messages in flight, so it stays on this thread.)
fn make_durable(
    partitions: &mut [Partition],
    journal: Option<&mut Journal>,
    shared: &Shared,
) -> io::Result<()> {
    write_touched(partitions)?;
    let Some(journal) = journal else {
        return Ok(()); // fsync off: written, never synced
    };
    if !journal.fits() {
        journal.discard();
        return checkpoint(partitions, journal, shared);
    }
    if journal.write_staged()? {
        journal.sync()?;
        shared.fsyncs.fetch_add(1, Ordering::Relaxed);
    }
    journal.finish();
    for part in partitions.iter_mut().filter(|p| p.touched) {
        part.dirty = true;
    }
    Ok(())
}

fn write_touched(partitions: &mut [Partition]) -> io::Result<()> {
    for part in partitions.iter_mut().filter(|p| p.touched) {
        part.write_buffered()?;
    }
    Ok(())
}

/// Syncs every partition file written since the last checkpoint (and those of the current
/// batch), then starts a new journal lap.
fn checkpoint(
    partitions: &mut [Partition],
    journal: &mut Journal,
    shared: &Shared,
) -> io::Result<()> {
    for part in partitions.iter_mut().filter(|p| p.dirty || p.touched) {
        part.active.file.sync_data()?;
        shared.fsyncs.fetch_add(1, Ordering::Relaxed);
    }
    journal.checkpoint()?;
    shared.fsyncs.fetch_add(1, Ordering::Relaxed);
    for part in partitions.iter_mut() {
        part.dirty = false;
    }
    Ok(())
}
