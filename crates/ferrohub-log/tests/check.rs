//! `ferrohub_log::check`: a read-only look at a log directory, as `ferrohub check` shows it.
//! It must find what recovery would find (torn tails, damaged sealed segments) and change
//! nothing, and it must not read a log that a server has open.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::Path;

use common::{config, event, segment_files};
use ferrohub_log::{LogError, PartitionReport, SegmentLog, TelemetryLog, check};

/// A log in `dir` with `n` records in partition 0, in segments of at most `segment_bytes`,
/// closed cleanly.
async fn closed_log(dir: &Path, n: usize, segment_bytes: u64) {
    let mut cfg = config(dir);
    cfg.segment_max_bytes = segment_bytes;
    let log = SegmentLog::open(cfg).unwrap();
    for i in 0..n {
        log.append(0, event(i)).await.unwrap();
    }
    log.shutdown().await;
}

#[tokio::test]
async fn a_sound_log_is_counted_per_partition() {
    let dir = tempfile::tempdir().unwrap();
    closed_log(dir.path(), 12, 300).await;
    let report = check(dir.path()).unwrap();
    assert_eq!(report.len(), 4);
    let segments = segment_files(dir.path(), 0).len();
    assert!(segments > 2);
    assert_eq!(
        report[0],
        PartitionReport {
            partition: 0,
            segments,
            records: 12,
            torn_tail_bytes: 0
        }
    );
    assert_eq!(report[1].records, 0);
}

#[tokio::test]
async fn a_torn_tail_is_reported_and_left_in_place() {
    let dir = tempfile::tempdir().unwrap();
    closed_log(dir.path(), 5, 64 * 1024 * 1024).await;
    let segment = segment_files(dir.path(), 0).pop().unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap()
        .write_all(&[0xAB; 37])
        .unwrap();
    let before = std::fs::read(&segment).unwrap();
    let report = check(dir.path()).unwrap();
    assert_eq!((report[0].records, report[0].torn_tail_bytes), (5, 37));
    assert_eq!(std::fs::read(&segment).unwrap(), before, "nothing cut");
}

#[tokio::test]
async fn damage_in_a_sealed_segment_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    closed_log(dir.path(), 12, 300).await;
    let first = segment_files(dir.path(), 0).remove(0);
    let mut bytes = std::fs::read(&first).unwrap();
    let near_end = bytes.len() - 2;
    bytes[near_end] ^= 0xFF;
    std::fs::write(&first, &bytes).unwrap();
    match check(dir.path()) {
        Err(LogError::Corrupt { path, .. }) => assert_eq!(path, first),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn an_open_log_or_a_directory_that_is_no_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(config(dir.path())).unwrap();
    assert!(matches!(
        check(dir.path()),
        Err(LogError::DirectoryInUse(_))
    ));
    log.shutdown().await;
    drop(log);
    assert!(check(dir.path()).is_ok());

    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(check(empty.path()), Err(LogError::Corrupt { .. })));
    assert!(
        !empty.path().join("LOCK").exists(),
        "nothing written to a directory that is no log"
    );
}
