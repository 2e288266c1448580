//! Property test: any sequence of appends (random partitions, bodies, properties), with
//! a reopen somewhere in the middle, reads back exactly like a simple in-memory model.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use ferrohub_log::{EventData, LogConfig, SegmentLog, StartPosition, TelemetryLog};
use proptest::prelude::*;

const PARTITIONS: u32 = 3;

fn arb_event() -> impl Strategy<Value = EventData> {
    let prop = ("[a-z-]{0,8}", "\\PC{0,12}");
    (
        proptest::collection::vec(any::<u8>(), 0..300),
        proptest::collection::vec(prop, 0..4),
        proptest::collection::vec(prop, 0..3),
    )
        .prop_map(|(body, properties, system_properties)| EventData {
            body: Bytes::from(body),
            properties,
            system_properties,
            shared_system_properties: None,
        })
}

fn check_against_model(log: &SegmentLog, model: &[Vec<EventData>]) {
    for (p, events) in model.iter().enumerate() {
        let p = p as u32;
        let read = log.read(p, StartPosition::Earliest, usize::MAX).unwrap();
        assert_eq!(read.len(), events.len());
        for (i, (stored, want)) in read.iter().zip(events).enumerate() {
            assert_eq!(stored.sequence_number, i as u64);
            assert_eq!(&stored.data, want);
        }
        assert_eq!(log.next_sequence_number(p).unwrap(), events.len() as u64);
        // A seek into the middle agrees with the model too.
        if !events.is_empty() {
            let mid = events.len() / 2;
            let got = log
                .read(p, StartPosition::SequenceNumber(mid as u64), 2)
                .unwrap();
            assert_eq!(got[0].data, events[mid]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_appends_with_a_reopen_read_back_like_the_model(
        appends in proptest::collection::vec((0..PARTITIONS, arb_event()), 0..60),
        reopen_at in 0usize..60,
        segment_max_bytes in prop_oneof![Just(200u64), Just(1024), Just(1 << 20)],
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = LogConfig::new(dir.path());
        cfg.partitions = PARTITIONS;
        cfg.segment_max_bytes = segment_max_bytes;
        cfg.fsync = false; // durability is covered elsewhere; keep the property test fast
        let mut model: Vec<Vec<EventData>> = vec![Vec::new(); PARTITIONS as usize];

        rt.block_on(async {
            let mut log = SegmentLog::open(cfg.clone()).unwrap();
            for (i, (p, event)) in appends.into_iter().enumerate() {
                if i == reopen_at {
                    log.shutdown().await;
                    drop(log);
                    log = SegmentLog::open(cfg.clone()).unwrap();
                    check_against_model(&log, &model);
                }
                let receipt = log.append(p, event.clone()).await.unwrap();
                prop_assert_eq!(receipt.sequence_number, model[p as usize].len() as u64);
                model[p as usize].push(event);
            }
            check_against_model(&log, &model);
            log.shutdown().await;
            Ok(())
        })?;
    }
}
