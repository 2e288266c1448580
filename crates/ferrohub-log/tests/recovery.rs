//! Crash recovery: torn tails of the active segment are truncated at open; damage in
//! sealed segments is reported, never silently dropped.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use common::{config, event, segment_files};
use ferrohub_log::{LogConfig, LogError, SegmentLog, StartPosition, TelemetryLog};

const N: usize = 10;

async fn write_n(cfg: &LogConfig) {
    let log = SegmentLog::open(cfg.clone()).unwrap();
    for i in 0..N {
        log.append(0, event(i)).await.unwrap();
    }
    log.shutdown().await;
}

fn last_segment(dir: &Path) -> std::path::PathBuf {
    segment_files(dir, 0).pop().unwrap()
}

/// Reopens and checks: `intact` records readable and equal, new appends continue.
async fn assert_recovered(cfg: &LogConfig, intact: usize) {
    let log = SegmentLog::open(cfg.clone()).unwrap();
    let read = log.read(0, StartPosition::Earliest, 100).unwrap();
    assert_eq!(read.len(), intact);
    for (i, e) in read.iter().enumerate() {
        assert_eq!(e.data, event(i));
    }
    assert_eq!(log.next_sequence_number(0).unwrap(), intact as u64);
    let r = log.append(0, event(1000)).await.unwrap();
    assert_eq!(r.sequence_number, intact as u64);
    let read = log.read(0, StartPosition::Earliest, 100).unwrap();
    assert_eq!(read.len(), intact + 1);
    assert_eq!(read[intact].data, event(1000));
    assert_eq!(read[intact].offset, r.offset);
    log.shutdown().await;
    drop(log);
    // And the repaired log reopens cleanly with the new record.
    let log = SegmentLog::open(cfg.clone()).unwrap();
    assert_eq!(
        log.read(0, StartPosition::Earliest, 100).unwrap().len(),
        intact + 1
    );
    log.shutdown().await;
}

#[tokio::test]
async fn a_last_record_cut_short_is_dropped_and_the_rest_survive() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    write_n(&cfg).await;
    let seg = last_segment(dir.path());
    let len = std::fs::metadata(&seg).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    assert_recovered(&cfg, N - 1).await;
}

#[tokio::test]
async fn garbage_after_the_last_record_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    write_n(&cfg).await;
    let seg = last_segment(dir.path());
    let len = std::fs::metadata(&seg).unwrap().len();
    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&[0xAB; 13]).unwrap();
    drop(f);
    assert_recovered(&cfg, N).await;
    // The garbage is gone from the file (the new record starts where it was).
    assert!(std::fs::metadata(&seg).unwrap().len() > len);
}

#[tokio::test]
async fn a_plausible_but_short_header_at_the_end_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    write_n(&cfg).await;
    let seg = last_segment(dir.path());
    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
    // Length 100 and some CRC, but only 4 body bytes: a write torn mid-record.
    f.write_all(&100u32.to_le_bytes()).unwrap();
    f.write_all(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    drop(f);
    assert_recovered(&cfg, N).await;
}

#[tokio::test]
async fn a_flipped_byte_in_the_last_record_drops_only_that_record() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    write_n(&cfg).await;
    let seg = last_segment(dir.path());
    let mut bytes = std::fs::read(&seg).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0xFF;
    std::fs::write(&seg, &bytes).unwrap();
    assert_recovered(&cfg, N - 1).await;
}

#[tokio::test]
async fn damage_in_a_sealed_segment_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.segment_max_bytes = 300;
    write_n(&cfg).await;
    let segs = segment_files(dir.path(), 0);
    assert!(segs.len() > 2);
    let mut bytes = std::fs::read(&segs[0]).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0xFF;
    std::fs::write(&segs[0], &bytes).unwrap();
    assert!(matches!(
        SegmentLog::open(cfg),
        Err(LogError::Corrupt { .. })
    ));
}

#[tokio::test]
async fn a_missing_middle_segment_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.segment_max_bytes = 300;
    write_n(&cfg).await;
    let segs = segment_files(dir.path(), 0);
    std::fs::remove_file(&segs[1]).unwrap();
    assert!(matches!(
        SegmentLog::open(cfg),
        Err(LogError::Corrupt { .. })
    ));
}

#[tokio::test]
async fn a_torn_tail_in_a_rolled_log_only_affects_the_last_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.segment_max_bytes = 300;
    write_n(&cfg).await;
    let seg = last_segment(dir.path());
    let len = std::fs::metadata(&seg).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    assert_recovered(&cfg, N - 1).await;
}
