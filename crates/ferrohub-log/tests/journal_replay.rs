//! The commit journal after a crash: partition files are not synced per batch, so a crash
//! can cost them acknowledged records; the journal must bring every one of them back, at
//! the offset it was acknowledged with, and must never replay entries of an older lap.
//!
//! A crash is modelled by copying the log directory while the log is open (what a
//! `kill -9` leaves: everything written so far), then cutting a partition file back as a
//! power loss could (its unsynced tail never reached the disk).
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::OpenOptions;
use std::path::Path;

use common::{config, event, segment_files};
use ferrohub_log::{AppendReceipt, LogConfig, SegmentLog, StartPosition, TelemetryLog};

/// Copies the directory (without the lock file) as a crash would leave it.
fn crash_copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            crash_copy(&entry.path(), &target);
        } else if entry.file_name() != "LOCK" {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn cut_last_segment(dir: &Path, partition: u32, keep: u64) {
    let seg = segment_files(dir, partition).pop().unwrap();
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(keep)
        .unwrap();
}

/// Reopens the crashed copy and checks every acknowledged record is there as acknowledged.
async fn assert_all_there(cfg: &LogConfig, partition: u32, receipts: &[(usize, AppendReceipt)]) {
    let log = SegmentLog::open(cfg.clone()).unwrap();
    let read = log
        .read(partition, StartPosition::Earliest, receipts.len() + 10)
        .unwrap();
    assert_eq!(read.len(), receipts.len());
    for (stored, (i, receipt)) in read.iter().zip(receipts) {
        assert_eq!(stored.data, event(*i));
        assert_eq!(stored.sequence_number, receipt.sequence_number);
        assert_eq!(stored.offset, receipt.offset);
    }
    // Appending continues right after them.
    let next = log.append(partition, event(99_999)).await.unwrap();
    assert_eq!(next.sequence_number, receipts.len() as u64);
    log.shutdown().await;
}

#[tokio::test]
async fn records_missing_from_an_unsynced_partition_file_come_back_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let log = SegmentLog::open(cfg.clone()).unwrap();
    let mut receipts = Vec::new();
    for i in 0..20 {
        receipts.push((i, log.append(0, event(i)).await.unwrap()));
    }
    let crashed = tempfile::tempdir().unwrap();
    crash_copy(dir.path(), crashed.path());
    log.shutdown().await;

    // None of the records reached the partition file: only its header is left.
    cut_last_segment(crashed.path(), 0, 28);
    assert_all_there(&config(crashed.path()), 0, &receipts).await;
}

#[tokio::test]
async fn a_partition_cut_inside_a_record_is_repaired_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let log = SegmentLog::open(cfg.clone()).unwrap();
    let mut receipts = Vec::new();
    for i in 0..10 {
        receipts.push((i, log.append(1, event(i)).await.unwrap()));
    }
    let crashed = tempfile::tempdir().unwrap();
    crash_copy(dir.path(), crashed.path());
    log.shutdown().await;

    // The cut lands inside the fifth record: recovery drops the torn part, replay restores it.
    let fifth = receipts[4].1.offset;
    cut_last_segment(crashed.path(), 1, fifth + 5);
    assert_all_there(&config(crashed.path()), 1, &receipts).await;
}

#[tokio::test]
async fn a_journal_that_wrapped_many_times_replays_only_its_current_lap() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.journal_bytes = 0; // the smallest journal: it wraps every few thousand records
    let log = SegmentLog::open(cfg.clone()).unwrap();
    let mut receipts = Vec::new();
    // Concurrent appends so batches form, as under load.
    for chunk in 0..30 {
        let tasks: Vec<_> = (0..500)
            .map(|k| {
                let i = chunk * 500 + k;
                let log = log.clone();
                tokio::spawn(async move { (i, log.append(2, event(i)).await.unwrap()) })
            })
            .collect();
        for task in tasks {
            receipts.push(task.await.unwrap());
        }
    }
    receipts.sort_by_key(|(_, r)| r.sequence_number);
    let syncs_before_last = log.fsync_count();
    assert!(
        syncs_before_last > 60,
        "several checkpoints expected, got {syncs_before_last} syncs"
    );
    // One more record that only the journal makes durable (a checkpoint instead, which
    // the sync count would show, is retried).
    loop {
        let before = log.fsync_count();
        let i = receipts.len();
        receipts.push((i, log.append(2, event(i)).await.unwrap()));
        if log.fsync_count() == before + 1 {
            break;
        }
    }
    let crashed = tempfile::tempdir().unwrap();
    crash_copy(dir.path(), crashed.path());
    log.shutdown().await;

    let last = receipts.last().unwrap().1.offset;
    let seg = segment_files(crashed.path(), 2).pop().unwrap();
    let base = std::fs::read(&seg).unwrap();
    let base_offset = u64::from_le_bytes(base[16..24].try_into().unwrap());
    cut_last_segment(crashed.path(), 2, last - base_offset);
    let mut crashed_cfg = config(crashed.path());
    crashed_cfg.journal_bytes = 0;
    assert_all_there(&crashed_cfg, 2, &receipts).await;
}

#[tokio::test]
async fn a_clean_shutdown_leaves_nothing_to_replay() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let log = SegmentLog::open(cfg.clone()).unwrap();
    for i in 0..5 {
        log.append(3, event(i)).await.unwrap();
    }
    log.shutdown().await;
    drop(log);
    // After a clean stop the partition file alone is the truth: cutting it now is damage
    // to synced data, which the journal (checkpointed at shutdown) does not paper over.
    cut_last_segment(dir.path(), 3, 28);
    let log = SegmentLog::open(cfg).unwrap();
    assert_eq!(log.next_sequence_number(3).unwrap(), 0);
    log.shutdown().await;
}
