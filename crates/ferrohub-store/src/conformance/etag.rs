//! Conformance checks for etag compare-and-swap, including a race between concurrent writers.

use crate::error::StoreError;
use crate::precondition::Precondition;
use crate::traits::Store;

use super::fixtures::{device_identity, device_record, fails_with, hub_name, ok};

pub async fn update_respects_the_etag(store: &dyn Store) {
    let hub = "conf-cas-update";
    ok(
        store.create_identity(device_record(hub, "d1")).await,
        "create d1",
    );

    let mut next = device_record(hub, "d1");
    next.etag = "e1".into();
    fails_with(
        store
            .update_identity(next.clone(), Precondition::IfMatch("stale".into()))
            .await,
        StoreError::PreconditionFailed,
        "update with a wrong etag",
    );
    let got = ok(
        store
            .get_identity(hub_name(hub), device_identity("d1"))
            .await,
        "get d1",
    );
    assert_eq!(
        got.map(|d| d.etag),
        Some("e0".into()),
        "a refused update changes nothing"
    );

    ok(
        store
            .update_identity(next.clone(), Precondition::IfMatch("e0".into()))
            .await,
        "update with the stored etag",
    );
    // The precondition compares against the stored etag, not the one inside the new record.
    fails_with(
        store
            .update_identity(next.clone(), Precondition::IfMatch("e0".into()))
            .await,
        StoreError::PreconditionFailed,
        "update with the etag that was just replaced",
    );
    ok(
        store
            .update_identity(next, Precondition::IfMatch("*".into()))
            .await,
        "If-Match * behaves like Any",
    );
}

pub async fn delete_respects_the_etag(store: &dyn Store) {
    let hub = "conf-cas-delete";
    ok(
        store.create_identity(device_record(hub, "d1")).await,
        "create d1",
    );
    fails_with(
        store
            .delete_identity(
                hub_name(hub),
                device_identity("d1"),
                Precondition::IfMatch("stale".into()),
            )
            .await,
        StoreError::PreconditionFailed,
        "delete with a wrong etag",
    );
    let got = ok(
        store
            .get_identity(hub_name(hub), device_identity("d1"))
            .await,
        "get d1",
    );
    assert!(got.is_some(), "a refused delete leaves the device");
    ok(
        store
            .delete_identity(
                hub_name(hub),
                device_identity("d1"),
                Precondition::IfMatch("e0".into()),
            )
            .await,
        "delete with the stored etag",
    );
}

pub async fn concurrent_updates_with_the_same_etag_have_exactly_one_winner(store: &dyn Store) {
    const WRITERS: usize = 20;
    let hub = "conf-cas-race";
    ok(
        store.create_identity(device_record(hub, "d1")).await,
        "create d1",
    );

    // Build every future first and only then spawn them, so they race as closely as possible.
    let futures: Vec<_> = (0..WRITERS)
        .map(|i| {
            let mut next = device_record(hub, "d1");
            next.etag = format!("writer-{i}");
            store.update_identity(next, Precondition::IfMatch("e0".into()))
        })
        .collect();
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();

    let mut winners = Vec::new();
    for (i, handle) in handles.into_iter().enumerate() {
        match handle.await {
            Ok(Ok(record)) => winners.push(record.etag),
            Ok(Err(StoreError::PreconditionFailed)) => {}
            Ok(Err(e)) => panic!("writer {i}: expected success or PreconditionFailed, got {e:?}"),
            Err(e) => panic!("writer {i} panicked: {e}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one of {WRITERS} racing CAS updates wins: {winners:?}"
    );
    let stored = ok(
        store
            .get_identity(hub_name(hub), device_identity("d1"))
            .await,
        "get d1",
    );
    assert_eq!(
        stored.map(|d| d.etag),
        winners.pop(),
        "the stored record is the winner's"
    );
}
