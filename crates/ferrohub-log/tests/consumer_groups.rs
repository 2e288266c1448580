//! Consumer groups and checkpoints: naming rules, the undeletable `$Default`, and
//! durability across reopen.
#![allow(clippy::unwrap_used)]

mod common;

use common::config;
use ferrohub_log::{DEFAULT_CONSUMER_GROUP, LogError, SegmentLog, TelemetryLog};

#[tokio::test]
async fn groups_can_be_created_listed_and_deleted_but_default_stays() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(config(dir.path())).unwrap();
    assert_eq!(log.consumer_groups().unwrap(), [DEFAULT_CONSUMER_GROUP]);

    log.create_consumer_group("analytics").unwrap();
    log.create_consumer_group("alerts-1.v2_x").unwrap();
    assert!(matches!(
        log.create_consumer_group("analytics"),
        Err(LogError::ConsumerGroupExists(_))
    ));
    assert!(matches!(
        log.create_consumer_group("$Default"),
        Err(LogError::ConsumerGroupExists(_))
    ));
    let mut groups = log.consumer_groups().unwrap();
    groups.sort();
    assert_eq!(groups, ["$Default", "alerts-1.v2_x", "analytics"]);

    log.delete_consumer_group("analytics").unwrap();
    assert!(matches!(
        log.delete_consumer_group("analytics"),
        Err(LogError::UnknownConsumerGroup(_))
    ));
    assert!(matches!(
        log.delete_consumer_group(DEFAULT_CONSUMER_GROUP),
        Err(LogError::ConsumerGroupProtected(_))
    ));
    assert!(
        log.consumer_groups()
            .unwrap()
            .contains(&"$Default".to_owned())
    );
    // A deleted name can be reused, starting without checkpoints.
    log.create_consumer_group("alerts").unwrap();
    log.commit_checkpoint("alerts", 0, 5).unwrap();
    log.delete_consumer_group("alerts").unwrap();
    log.create_consumer_group("alerts").unwrap();
    assert_eq!(log.checkpoint("alerts", 0).unwrap(), None);
    log.shutdown().await;
}

#[tokio::test]
async fn invalid_group_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(config(dir.path())).unwrap();
    let long = "x".repeat(51);
    for bad in [
        "",
        ".",
        "..",
        "../etc",
        "a/b",
        "has space",
        "$Other",
        long.as_str(),
    ] {
        assert!(
            matches!(
                log.create_consumer_group(bad),
                Err(LogError::InvalidConsumerGroupName(_))
            ),
            "{bad:?}"
        );
    }
    log.create_consumer_group(&"x".repeat(50)).unwrap();
    log.shutdown().await;
}

#[tokio::test]
async fn checkpoints_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = SegmentLog::open(config(dir.path())).unwrap();
        log.create_consumer_group("billing").unwrap();
        assert_eq!(log.checkpoint("billing", 2).unwrap(), None);
        log.commit_checkpoint("billing", 2, 41).unwrap();
        log.commit_checkpoint("billing", 2, 42).unwrap();
        log.commit_checkpoint(DEFAULT_CONSUMER_GROUP, 0, 7).unwrap();
        log.shutdown().await;
    }
    let log = SegmentLog::open(config(dir.path())).unwrap();
    assert_eq!(log.checkpoint("billing", 2).unwrap(), Some(42));
    assert_eq!(log.checkpoint("billing", 1).unwrap(), None);
    assert_eq!(log.checkpoint(DEFAULT_CONSUMER_GROUP, 0).unwrap(), Some(7));
    let mut groups = log.consumer_groups().unwrap();
    groups.sort();
    assert_eq!(groups, ["$Default", "billing"]);
    log.shutdown().await;
}

#[tokio::test]
async fn checkpoints_for_unknown_groups_or_partitions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(config(dir.path())).unwrap();
    assert!(matches!(
        log.checkpoint("nope", 0),
        Err(LogError::UnknownConsumerGroup(_))
    ));
    assert!(matches!(
        log.commit_checkpoint("nope", 0, 1),
        Err(LogError::UnknownConsumerGroup(_))
    ));
    assert!(matches!(
        log.commit_checkpoint(DEFAULT_CONSUMER_GROUP, 4, 1),
        Err(LogError::UnknownPartition(4))
    ));
    log.shutdown().await;
}
