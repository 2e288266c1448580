//! Conformance checks for per-device cloud-to-device queues: FIFO order, the depth bound,
//! delivery counts, removal and purging.

use crate::error::StoreError;
use crate::traits::Store;

use super::fixtures::{c2d_message, device_id, device_record, fails_with, hub_name, ok};

pub async fn c2d_queues_are_fifo_and_round_trip(store: &dyn Store) {
    let hub = "conf-c2d-fifo";
    ok(
        store.create_identity(device_record(hub, "d1")).await,
        "create d1",
    );
    let messages: Vec<_> = ["e", "a", "d", "b", "c"]
        .iter()
        .map(|token| c2d_message(hub, "d1", token))
        .collect();
    for message in &messages {
        ok(store.enqueue_c2d(message.clone(), 100).await, "enqueue");
    }
    let mut minimal = c2d_message(hub, "d1", "minimal");
    minimal.correlation_id = None;
    minimal.content_type = None;
    minimal.properties = Vec::new();
    minimal.body = Vec::new();
    ok(
        store.enqueue_c2d(minimal.clone(), 100).await,
        "enqueue a message with no body",
    );
    let mut all = messages.clone();
    all.push(minimal);

    let peeked = ok(
        store.peek_c2d(hub_name(hub), device_id("d1"), 100).await,
        "peek",
    );
    assert_eq!(
        peeked, all,
        "peek returns every message unchanged, oldest first (not in lock-token order)"
    );
    let first_two = ok(
        store.peek_c2d(hub_name(hub), device_id("d1"), 2).await,
        "peek 2",
    );
    assert_eq!(
        first_two,
        all[..2],
        "peek returns at most `limit`, the oldest"
    );
    assert_eq!(
        ok(
            store.count_c2d(hub_name(hub), device_id("d1")).await,
            "count"
        ),
        6,
        "count sees every message"
    );
    let peeked_again = ok(
        store.peek_c2d(hub_name(hub), device_id("d1"), 100).await,
        "peek",
    );
    assert_eq!(peeked_again, all, "peek does not consume");

    // Delivery counts persist.
    ok(
        store
            .set_c2d_delivery_count(hub_name(hub), device_id("d1"), all[0].lock_token.clone(), 3)
            .await,
        "set the delivery count",
    );
    let mut expected = all.clone();
    if let Some(first) = expected.first_mut() {
        first.delivery_count = 3;
    }
    let peeked = ok(
        store.peek_c2d(hub_name(hub), device_id("d1"), 100).await,
        "peek",
    );
    assert_eq!(
        peeked, expected,
        "a new delivery count is stored, nothing else changes"
    );
    fails_with(
        store
            .set_c2d_delivery_count(hub_name(hub), device_id("d1"), "no-such-lock".into(), 1)
            .await,
        StoreError::NotFound,
        "setting the delivery count of a missing message",
    );
    fails_with(
        store
            .set_c2d_delivery_count(
                hub_name("conf-c2d-fifo-other"),
                device_id("d1"),
                all[1].lock_token.clone(),
                1,
            )
            .await,
        StoreError::NotFound,
        "setting the delivery count through another hub",
    );

    // Removing one keeps the others in order.
    let removed = ok(
        store
            .remove_c2d(hub_name(hub), device_id("d1"), all[2].lock_token.clone())
            .await,
        "remove the third",
    );
    assert_eq!(
        removed.as_ref(),
        expected.get(2),
        "remove returns the removed message"
    );
    let again = ok(
        store
            .remove_c2d(hub_name(hub), device_id("d1"), all[2].lock_token.clone())
            .await,
        "remove it again",
    );
    assert_eq!(again, None, "removing a message twice returns None");
    let removed_first = ok(
        store
            .remove_c2d(hub_name(hub), device_id("d1"), all[0].lock_token.clone())
            .await,
        "remove the first",
    );
    assert_eq!(
        removed_first.map(|m| m.delivery_count),
        Some(3),
        "a removed message carries its stored delivery count"
    );
    fails_with(
        store
            .set_c2d_delivery_count(hub_name(hub), device_id("d1"), all[0].lock_token.clone(), 4)
            .await,
        StoreError::NotFound,
        "setting the delivery count of a removed message",
    );
    let left = ok(
        store.peek_c2d(hub_name(hub), device_id("d1"), 100).await,
        "peek",
    );
    let expected_left: Vec<_> = [1, 3, 4, 5]
        .iter()
        .filter_map(|&i| all.get(i).cloned())
        .collect();
    assert_eq!(left, expected_left, "removal keeps the others in order");

    // A later message still goes to the back.
    let late = c2d_message(hub, "d1", "0-late");
    ok(store.enqueue_c2d(late.clone(), 100).await, "enqueue late");
    let last = ok(
        store.peek_c2d(hub_name(hub), device_id("d1"), 100).await,
        "peek",
    )
    .pop();
    assert_eq!(
        last,
        Some(late),
        "a new message joins the back of the queue"
    );

    assert_eq!(
        ok(
            store.purge_c2d(hub_name(hub), device_id("d1")).await,
            "purge"
        ),
        5,
        "purge reports how many it removed"
    );
    assert_eq!(
        ok(
            store.count_c2d(hub_name(hub), device_id("d1")).await,
            "count"
        ),
        0,
        "a purged queue is empty"
    );
    assert_eq!(
        ok(
            store.purge_c2d(hub_name(hub), device_id("d1")).await,
            "purge again"
        ),
        0,
        "purging an empty queue reports 0"
    );
    assert!(
        ok(
            store.peek_c2d(hub_name(hub), device_id("d1"), 100).await,
            "peek"
        )
        .is_empty(),
        "a purged queue peeks empty"
    );
}

pub async fn a_full_queue_refuses_more_without_affecting_others(store: &dyn Store) {
    const MAX: usize = 50;
    let hub = "conf-c2d-full";
    ok(
        store.create_identity(device_record(hub, "d1")).await,
        "create d1",
    );
    ok(
        store.create_identity(device_record(hub, "d2")).await,
        "create d2",
    );
    for i in 0..MAX {
        ok(
            store
                .enqueue_c2d(c2d_message(hub, "d1", &format!("{i:03}")), MAX)
                .await,
            "enqueue up to the maximum",
        );
    }
    let overflow = c2d_message(hub, "d1", "overflow");
    fails_with(
        store.enqueue_c2d(overflow.clone(), MAX).await,
        StoreError::QueueFull,
        "the 51st message of a queue holding 50",
    );
    assert_eq!(
        ok(
            store.count_c2d(hub_name(hub), device_id("d1")).await,
            "count d1"
        ),
        50,
        "a refused message is not counted"
    );
    let tokens: Vec<_> = ok(
        store.peek_c2d(hub_name(hub), device_id("d1"), 100).await,
        "peek d1",
    )
    .into_iter()
    .map(|m| m.lock_token)
    .collect();
    assert!(
        !tokens.contains(&overflow.lock_token),
        "a refused message is not stored"
    );
    let expected: Vec<_> = (0..MAX)
        .map(|i| c2d_message(hub, "d1", &format!("{i:03}")).lock_token)
        .collect();
    assert_eq!(
        tokens, expected,
        "the full queue holds the first 50, in order"
    );

    ok(
        store.enqueue_c2d(c2d_message(hub, "d2", "a"), MAX).await,
        "another device's queue is not full",
    );
    assert_eq!(
        ok(
            store.count_c2d(hub_name(hub), device_id("d2")).await,
            "count d2"
        ),
        1,
        "one device's full queue does not affect another's"
    );

    fails_with(
        store.enqueue_c2d(c2d_message(hub, "d2", "b"), 1).await,
        StoreError::QueueFull,
        "the depth is whatever the caller passes",
    );
    ok(
        store
            .remove_c2d(hub_name(hub), device_id("d1"), expected[0].clone())
            .await,
        "remove one from d1",
    );
    ok(
        store.enqueue_c2d(overflow, MAX).await,
        "a queue that has room again accepts a message",
    );
}

pub async fn enqueueing_for_a_missing_device_is_not_found(store: &dyn Store) {
    let hub = "conf-c2d-missing";
    ok(
        store.create_identity(device_record(hub, "d1")).await,
        "create d1",
    );
    fails_with(
        store.enqueue_c2d(c2d_message(hub, "ghost", "a"), 10).await,
        StoreError::NotFound,
        "enqueueing for an unregistered device",
    );
    fails_with(
        store
            .enqueue_c2d(c2d_message("conf-c2d-missing-other", "d1", "a"), 10)
            .await,
        StoreError::NotFound,
        "enqueueing for a device registered only in another hub",
    );
    assert_eq!(
        ok(
            store.count_c2d(hub_name(hub), device_id("ghost")).await,
            "count ghost"
        ),
        0,
        "a refused message is not stored"
    );
    assert!(
        ok(
            store.peek_c2d(hub_name(hub), device_id("ghost"), 10).await,
            "peek ghost"
        )
        .is_empty(),
        "a missing device's queue peeks empty"
    );
    assert_eq!(
        ok(
            store
                .remove_c2d(hub_name(hub), device_id("ghost"), "lock-ghost-a".into())
                .await,
            "remove from ghost"
        ),
        None,
        "removing from a missing device's queue returns None"
    );
}
