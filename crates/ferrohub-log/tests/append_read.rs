//! Appending, reading, seeking, group commit, reopen, watch and retention against real
//! files in temp dirs.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{config, event, segment_files};
use ferrohub_log::{
    EventData, LogError, SegmentLog, StartPosition, TelemetryLog, partition_for_key,
};

#[tokio::test]
async fn appended_events_read_back_equal_across_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(config(dir.path())).unwrap();
    let mut expected: BTreeMap<u32, Vec<EventData>> = BTreeMap::new();
    for i in 0..40 {
        let p = (i % 3) as u32;
        let receipt = log.append(p, event(i)).await.unwrap();
        let list = expected.entry(p).or_default();
        assert_eq!(receipt.partition, p);
        assert_eq!(receipt.sequence_number, list.len() as u64);
        list.push(event(i));
    }
    for (p, events) in &expected {
        let read = log.read(*p, StartPosition::Earliest, 1000).unwrap();
        assert_eq!(read.len(), events.len());
        for (i, (stored, sent)) in read.iter().zip(events).enumerate() {
            assert_eq!(stored.partition, *p);
            assert_eq!(stored.sequence_number, i as u64);
            assert_eq!(&stored.data, sent);
        }
        assert!(
            read.windows(2)
                .all(|w| w[0].enqueued_time_ms <= w[1].enqueued_time_ms)
        );
        assert!(read.windows(2).all(|w| w[0].offset < w[1].offset));
        assert_eq!(log.next_sequence_number(*p).unwrap(), events.len() as u64);
    }
    assert!(log.read(3, StartPosition::Earliest, 10).unwrap().is_empty());
    log.shutdown().await;
}

#[tokio::test]
async fn reads_respect_max_and_latest_returns_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(config(dir.path())).unwrap();
    for i in 0..10 {
        log.append(0, event(i)).await.unwrap();
    }
    assert_eq!(log.read(0, StartPosition::Earliest, 4).unwrap().len(), 4);
    assert!(log.read(0, StartPosition::Earliest, 0).unwrap().is_empty());
    assert!(log.read(0, StartPosition::Latest, 10).unwrap().is_empty());
    assert!(
        log.read(0, StartPosition::SequenceNumber(10), 10)
            .unwrap()
            .is_empty()
    );
    let tail = log.read(0, StartPosition::SequenceNumber(7), 10).unwrap();
    assert_eq!(
        tail.iter().map(|e| e.sequence_number).collect::<Vec<_>>(),
        [7, 8, 9]
    );
    log.shutdown().await;
}

#[tokio::test]
async fn unknown_partitions_are_refused_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(config(dir.path())).unwrap();
    assert!(matches!(
        log.append(4, event(0)).await,
        Err(LogError::UnknownPartition(4))
    ));
    assert!(matches!(
        log.read(4, StartPosition::Earliest, 1),
        Err(LogError::UnknownPartition(4))
    ));
    assert!(matches!(
        log.next_sequence_number(9),
        Err(LogError::UnknownPartition(9))
    ));
    assert!(log.watch(4).is_err());
    log.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_appends_share_fsyncs_and_get_dense_sequence_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(config(dir.path())).unwrap();
    let n = 2000;
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move {
                let p = log.partition_for(&format!("device-{i}"));
                (i, log.append(p, event(i)).await.unwrap())
            })
        })
        .collect();
    let mut by_partition: BTreeMap<u32, Vec<(usize, ferrohub_log::AppendReceipt)>> =
        BTreeMap::new();
    for h in handles {
        let (i, r) = h.await.unwrap();
        by_partition.entry(r.partition).or_default().push((i, r));
    }
    assert!(by_partition.len() > 1, "keys should spread over partitions");
    let mut total = 0;
    for (p, mut receipts) in by_partition {
        receipts.sort_by_key(|(_, r)| r.sequence_number);
        let read = log.read(p, StartPosition::Earliest, n).unwrap();
        assert_eq!(read.len(), receipts.len());
        for (k, ((i, receipt), stored)) in receipts.iter().zip(&read).enumerate() {
            assert_eq!(receipt.sequence_number, k as u64, "dense sequence numbers");
            assert_eq!(stored.sequence_number, receipt.sequence_number);
            assert_eq!(stored.offset, receipt.offset);
            assert_eq!(stored.enqueued_time_ms, receipt.enqueued_time_ms);
            assert_eq!(stored.data, event(*i));
        }
        total += read.len();
    }
    assert_eq!(total, n);
    let fsyncs = log.fsync_count();
    assert!(fsyncs > 0);
    assert!(
        fsyncs < n as u64,
        "group commit: {fsyncs} fsyncs for {n} appends"
    );
    log.shutdown().await;
}

#[tokio::test]
async fn everything_survives_a_reopen_after_drop_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let mut receipts = Vec::new();
    {
        let log = SegmentLog::open(config(dir.path())).unwrap();
        for i in 0..25 {
            receipts.push(log.append((i % 2) as u32, event(i)).await.unwrap());
        }
    } // dropped without shutdown
    let log = SegmentLog::open(config(dir.path())).unwrap();
    for p in 0..2u32 {
        let read = log.read(p, StartPosition::Earliest, 100).unwrap();
        let mine: Vec<_> = receipts.iter().filter(|r| r.partition == p).collect();
        assert_eq!(read.len(), mine.len());
        for (stored, r) in read.iter().zip(&mine) {
            assert_eq!(stored.sequence_number, r.sequence_number);
            assert_eq!(stored.offset, r.offset);
            assert_eq!(stored.enqueued_time_ms, r.enqueued_time_ms);
        }
    }
    let next = log.append(0, event(99)).await.unwrap();
    assert_eq!(next.sequence_number, 13);
    let last_before = receipts.iter().rfind(|r| r.partition == 0).unwrap();
    assert!(next.offset > last_before.offset);
    assert!(next.enqueued_time_ms >= last_before.enqueued_time_ms);
    assert_eq!(
        log.read(0, StartPosition::SequenceNumber(13), 10).unwrap()[0].data,
        event(99)
    );
    log.shutdown().await;
}

#[tokio::test]
async fn appends_after_shutdown_fail_with_closed() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(config(dir.path())).unwrap();
    let pending = log.append(1, event(1));
    log.shutdown().await;
    // Issued before shutdown: still completes.
    assert_eq!(pending.await.unwrap().sequence_number, 0);
    assert!(matches!(
        log.append(1, event(2)).await,
        Err(LogError::Closed)
    ));
    log.shutdown().await; // idempotent
    assert_eq!(log.read(1, StartPosition::Earliest, 10).unwrap().len(), 1);
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(config(dir.path())).unwrap();
    assert!(matches!(
        SegmentLog::open(config(dir.path())),
        Err(LogError::DirectoryInUse(_))
    ));
    log.shutdown().await;
}

#[tokio::test]
async fn reopening_with_a_different_partition_count_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    SegmentLog::open(config(dir.path()))
        .unwrap()
        .shutdown()
        .await;
    let mut cfg = config(dir.path());
    cfg.partitions = 8;
    assert!(matches!(
        SegmentLog::open(cfg),
        Err(LogError::PartitionCountMismatch {
            on_disk: 4,
            configured: 8
        })
    ));
}

#[tokio::test]
async fn an_oversized_event_is_refused_without_disturbing_others() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(config(dir.path())).unwrap();
    let huge = EventData {
        body: bytes::Bytes::from(vec![0u8; ferrohub_log::MAX_RECORD_BODY_LEN + 1]),
        ..EventData::default()
    };
    assert!(matches!(
        log.append(0, huge).await,
        Err(LogError::EventTooLarge { .. })
    ));
    assert_eq!(log.append(0, event(1)).await.unwrap().sequence_number, 0);
    log.shutdown().await;
}

#[tokio::test]
async fn the_watch_fires_after_an_append() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(config(dir.path())).unwrap();
    let mut watch = log.watch(2).unwrap();
    assert_eq!(*watch.borrow_and_update(), 0);
    let appender = {
        let log = log.clone();
        tokio::spawn(async move { log.append(2, event(5)).await.unwrap() })
    };
    tokio::time::timeout(Duration::from_secs(10), watch.changed())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*watch.borrow(), 1);
    // The new record is readable as soon as the watch says so.
    assert_eq!(log.read(2, StartPosition::Earliest, 10).unwrap().len(), 1);
    appender.await.unwrap();
    log.shutdown().await;
}

#[tokio::test]
async fn tiny_segments_roll_over_and_reads_and_seeks_cross_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.segment_max_bytes = 300;
    let log = SegmentLog::open(cfg.clone()).unwrap();
    let mut receipts = Vec::new();
    for i in 0..200 {
        receipts.push(log.append(0, event(i)).await.unwrap());
        if i % 50 == 0 {
            // Spread enqueued times so time seeks have something to find.
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    }
    assert!(segment_files(dir.path(), 0).len() > 10);
    let all = log.read(0, StartPosition::Earliest, 1000).unwrap();
    assert_eq!(all.len(), 200);
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.sequence_number, i as u64);
        assert_eq!(e.data, event(i));
        assert_eq!(e.offset, receipts[i].offset);
    }
    for start in [0u64, 1, 63, 64, 65, 137, 199] {
        let got = log
            .read(0, StartPosition::SequenceNumber(start), 5)
            .unwrap();
        let want: Vec<u64> = (start..(start + 5).min(200)).collect();
        assert_eq!(
            got.iter().map(|e| e.sequence_number).collect::<Vec<_>>(),
            want
        );
    }
    for probe in [0usize, 51, 120, 199] {
        let t = receipts[probe].enqueued_time_ms;
        let first = all.iter().position(|e| e.enqueued_time_ms >= t).unwrap();
        let got = log.read(0, StartPosition::EnqueuedTime(t), 3).unwrap();
        assert_eq!(got[0].sequence_number, first as u64, "time {t}");
        assert_eq!(got.len(), 3.min(200 - first));
    }
    let after_all = receipts[199].enqueued_time_ms + 1;
    assert!(
        log.read(0, StartPosition::EnqueuedTime(after_all), 3)
            .unwrap()
            .is_empty()
    );
    log.shutdown().await;
    drop(log);

    // The index rebuilt at open seeks the same way.
    let log = SegmentLog::open(cfg).unwrap();
    let got = log
        .read(0, StartPosition::SequenceNumber(150), 100)
        .unwrap();
    assert_eq!(got.len(), 50);
    assert_eq!(got[0].sequence_number, 150);
    assert_eq!(
        log.append(0, event(200)).await.unwrap().sequence_number,
        200
    );
    log.shutdown().await;
}

#[tokio::test]
async fn retention_removes_old_segments_but_never_the_active_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.segment_max_bytes = 300;
    let log = SegmentLog::open(cfg.clone()).unwrap();
    for i in 0..50 {
        log.append(0, event(i)).await.unwrap();
    }
    log.append(1, event(0)).await.unwrap();
    let before = segment_files(dir.path(), 0).len();
    assert!(before > 3);

    // Nothing is old yet.
    let now = log.read(0, StartPosition::Earliest, 1).unwrap()[0].enqueued_time_ms;
    assert_eq!(log.enforce_retention(now).unwrap(), 0);

    let far_future = now + 10 * cfg.retention.as_millis() as i64;
    let removed = log.enforce_retention(far_future).unwrap();
    // Every partition keeps exactly its active segment.
    assert_eq!(removed, before - 1);
    assert_eq!(segment_files(dir.path(), 0).len(), 1);
    assert_eq!(segment_files(dir.path(), 1).len(), 1);

    let remaining = log.read(0, StartPosition::Earliest, 100).unwrap();
    assert!(!remaining.is_empty());
    assert_eq!(remaining.last().unwrap().sequence_number, 49);
    let first_left = remaining[0].sequence_number;
    assert!(first_left > 0);
    // A sequence number that expired starts at the oldest remaining event.
    assert_eq!(
        log.read(0, StartPosition::SequenceNumber(0), 1).unwrap()[0].sequence_number,
        first_left
    );
    assert_eq!(log.read(1, StartPosition::Earliest, 10).unwrap().len(), 1);
    assert_eq!(log.append(0, event(50)).await.unwrap().sequence_number, 50);
    log.shutdown().await;
    drop(log);

    let log = SegmentLog::open(cfg).unwrap();
    let after = log.read(0, StartPosition::Earliest, 100).unwrap();
    assert_eq!(after[0].sequence_number, first_left);
    assert_eq!(after.last().unwrap().sequence_number, 50);
    log.shutdown().await;
}

#[test]
fn partition_for_key_is_stable_across_versions() {
    // FNV-1a 32 of the UTF-8 bytes, modulo the partition count. Changing these values
    // would move devices to other partitions: never do it.
    assert_eq!(partition_for_key("device-1", 4), 1);
    assert_eq!(partition_for_key("device-2", 4), 0);
    assert_eq!(partition_for_key("thermostat-42", 4), 1);
    assert_eq!(partition_for_key("device-1", 32), 17);
    assert_eq!(partition_for_key("thermostat-42", 32), 29);
    assert_eq!(partition_for_key("a", 32), 12);
}

#[tokio::test]
async fn appends_issued_while_the_queue_is_full_keep_their_order() {
    // A queue of one, and appends issued back to back without awaiting, as a connection
    // does with the messages of one read: some find the queue full and must wait, and the
    // later ones must not slip past them when room appears.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.append_queue = 1;
    let log = SegmentLog::open(cfg).unwrap();
    let appends: Vec<_> = (0..2000).map(|i| log.append(0, event(i))).collect();
    let mut receipts = Vec::new();
    for append in appends {
        receipts.push(append.await.unwrap());
    }
    for (i, receipt) in receipts.iter().enumerate() {
        assert_eq!(
            receipt.sequence_number, i as u64,
            "append {i} was stored out of order"
        );
    }
    let read = log.read(0, StartPosition::Earliest, 3000).unwrap();
    assert_eq!(read.len(), 2000);
    for (i, stored) in read.iter().enumerate() {
        assert_eq!(stored.data, event(i));
    }
    log.shutdown().await;
}
