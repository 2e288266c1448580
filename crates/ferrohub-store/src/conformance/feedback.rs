//! Conformance checks for the hub's feedback queue: lock, complete, abandon and lock expiry.

use crate::c2d::FeedbackRecord;
use crate::traits::Store;

use super::fixtures::{feedback_record, hub_name, ok};

fn records(ids: &[&str]) -> Vec<FeedbackRecord> {
    ids.iter().map(|id| feedback_record(id)).collect()
}

pub async fn feedback_lock_complete_and_abandon(store: &dyn Store) {
    let hub = "conf-feedback";
    let none = ok(
        store.lock_feedback(hub_name(hub), 1_000, 100, 10).await,
        "lock empty",
    );
    assert_eq!(none, None, "locking an empty feedback queue returns None");

    ok(
        store
            .add_feedback(hub_name(hub), records(&["m1", "m2"]))
            .await,
        "add m1, m2",
    );
    ok(
        store.add_feedback(hub_name(hub), Vec::new()).await,
        "add nothing",
    );
    ok(
        store.add_feedback(hub_name(hub), records(&["m3"])).await,
        "add m3",
    );
    let other = ok(
        store
            .lock_feedback(hub_name("conf-feedback-other"), 1_000, 100, 10)
            .await,
        "lock another hub",
    );
    assert_eq!(other, None, "feedback is per hub");

    let first = ok(
        store.lock_feedback(hub_name(hub), 1_000, 100, 10).await,
        "lock",
    )
    .unwrap_or_else(|| panic!("lock: expected a batch, got None"));
    assert_eq!(
        first.records,
        records(&["m1", "m2", "m3"]),
        "a lock returns the records unchanged, oldest first"
    );
    let locked = ok(
        store.lock_feedback(hub_name(hub), 1_050, 100, 10).await,
        "lock again",
    );
    assert_eq!(locked, None, "locked records are not handed out twice");
    assert!(
        !ok(
            store
                .complete_feedback(
                    hub_name("conf-feedback-other"),
                    first.lock_token.clone(),
                    1_050
                )
                .await,
            "complete through another hub"
        ),
        "a lock token does not complete another hub's feedback"
    );

    assert!(
        ok(
            store
                .abandon_feedback(hub_name(hub), first.lock_token.clone())
                .await,
            "abandon"
        ),
        "abandoning a held lock reports true"
    );
    assert!(
        !ok(
            store
                .abandon_feedback(hub_name(hub), first.lock_token.clone())
                .await,
            "abandon again"
        ),
        "abandoning a released lock reports false"
    );
    assert!(
        !ok(
            store
                .complete_feedback(hub_name(hub), first.lock_token.clone(), 1_060)
                .await,
            "complete an abandoned lock"
        ),
        "completing an abandoned lock reports false"
    );

    let second = ok(
        store.lock_feedback(hub_name(hub), 1_060, 100, 10).await,
        "relock",
    )
    .unwrap_or_else(|| panic!("relock: expected a batch, got None"));
    assert_eq!(
        second.records,
        records(&["m1", "m2", "m3"]),
        "abandoned records can be locked again, still oldest first"
    );
    assert_ne!(
        second.lock_token, first.lock_token,
        "every lock gets a new token"
    );

    assert!(
        ok(
            store
                .complete_feedback(hub_name(hub), second.lock_token.clone(), 1_100)
                .await,
            "complete"
        ),
        "completing a held lock reports true"
    );
    assert!(
        !ok(
            store
                .complete_feedback(hub_name(hub), second.lock_token.clone(), 1_100)
                .await,
            "complete again"
        ),
        "completing twice reports false"
    );
    assert!(
        !ok(
            store
                .complete_feedback(hub_name(hub), "no-such-lock".into(), 1_100)
                .await,
            "complete unknown"
        ),
        "completing an unknown token reports false"
    );
    let empty = ok(
        store.lock_feedback(hub_name(hub), 5_000, 100, 10).await,
        "lock after complete",
    );
    assert_eq!(empty, None, "completed records are gone");
}

pub async fn an_expired_feedback_lock_lets_another_receive_take_the_records(store: &dyn Store) {
    let hub = "conf-feedback-expiry";
    ok(
        store
            .add_feedback(hub_name(hub), records(&["m1", "m2"]))
            .await,
        "add",
    );
    let first = ok(store.lock_feedback(hub_name(hub), 0, 100, 10).await, "lock")
        .unwrap_or_else(|| panic!("lock: expected a batch, got None"));
    assert_eq!(
        ok(
            store.lock_feedback(hub_name(hub), 99, 100, 10).await,
            "lock before expiry"
        ),
        None,
        "a lock holds until it expires"
    );
    let second = ok(
        store.lock_feedback(hub_name(hub), 100, 100, 10).await,
        "lock at expiry",
    )
    .unwrap_or_else(|| panic!("lock at expiry: expected a batch, got None"));
    assert_eq!(
        second.records,
        records(&["m1", "m2"]),
        "an expired lock's records go to the next receive"
    );
    assert_ne!(
        second.lock_token, first.lock_token,
        "the takeover gets a new token"
    );
    assert!(
        !ok(
            store
                .complete_feedback(hub_name(hub), first.lock_token.clone(), 150)
                .await,
            "complete the lost lock"
        ),
        "the expired lock cannot complete records another receive took"
    );
    assert!(
        ok(
            store
                .complete_feedback(hub_name(hub), second.lock_token.clone(), 150)
                .await,
            "complete the new lock"
        ),
        "the new lock completes"
    );
    assert_eq!(
        ok(
            store.lock_feedback(hub_name(hub), 10_000, 100, 10).await,
            "lock after complete"
        ),
        None,
        "completed records are gone"
    );
}

pub async fn completing_after_the_lock_expired_is_refused(store: &dyn Store) {
    let hub = "conf-feedback-late";
    ok(
        store.add_feedback(hub_name(hub), records(&["m1"])).await,
        "add",
    );
    let batch = ok(store.lock_feedback(hub_name(hub), 0, 100, 10).await, "lock")
        .unwrap_or_else(|| panic!("lock: expected a batch, got None"));
    assert!(
        !ok(
            store
                .complete_feedback(hub_name(hub), batch.lock_token.clone(), 100)
                .await,
            "complete at expiry"
        ),
        "completing once the lock expired reports false"
    );
    let again = ok(
        store.lock_feedback(hub_name(hub), 100, 100, 10).await,
        "lock again",
    )
    .unwrap_or_else(|| panic!("lock again: expected a batch, got None"));
    assert_eq!(
        again.records,
        records(&["m1"]),
        "a late completion does not delete the records"
    );
}

pub async fn lock_feedback_respects_max(store: &dyn Store) {
    let hub = "conf-feedback-max";
    ok(
        store
            .add_feedback(hub_name(hub), records(&["m1", "m2", "m3", "m4", "m5"]))
            .await,
        "add",
    );
    let mut tokens = Vec::new();
    for expected in [&["m1", "m2"][..], &["m3", "m4"], &["m5"]] {
        let batch = ok(
            store.lock_feedback(hub_name(hub), 0, 1_000, 2).await,
            "lock 2",
        )
        .unwrap_or_else(|| panic!("lock 2: expected a batch, got None"));
        assert_eq!(
            batch.records,
            records(expected),
            "each lock takes at most `max` of the oldest free records"
        );
        tokens.push(batch.lock_token);
    }
    assert_eq!(
        ok(
            store.lock_feedback(hub_name(hub), 0, 1_000, 2).await,
            "lock when all are locked"
        ),
        None,
        "nothing is left to lock"
    );
    // Abandoning the middle batch frees exactly its records.
    assert!(
        ok(
            store
                .abandon_feedback(hub_name(hub), tokens[1].clone())
                .await,
            "abandon"
        ),
        "abandon the middle batch"
    );
    let batch = ok(
        store.lock_feedback(hub_name(hub), 0, 1_000, 10).await,
        "lock abandoned",
    )
    .unwrap_or_else(|| panic!("lock abandoned: expected a batch, got None"));
    assert_eq!(
        batch.records,
        records(&["m3", "m4"]),
        "only the abandoned records are free"
    );
}
