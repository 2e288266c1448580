//! Conformance checks for twins: insert, get, version compare-and-swap (including a race),
//! listing, and that a twin lives and dies with its identity.

use crate::error::StoreError;
use crate::precondition::Precondition;
use crate::traits::Store;

use super::fixtures::{
    c2d_message, device_id, device_identity, device_record, fails_with, hub_name, module_identity,
    module_record, ok, twin_record,
};

pub async fn twins_insert_get_and_compare_and_swap(store: &dyn Store) {
    let hub = "conf-twin";
    for record in [
        device_record(hub, "d1"),
        module_record(hub, "d1", "m1"),
        device_record(hub, "d2"),
    ] {
        ok(store.create_identity(record).await, "create identity");
    }
    let missing = ok(
        store.get_twin(hub_name(hub), device_identity("d1")).await,
        "get a twin never put",
    );
    assert_eq!(
        missing, None,
        "a registered identity has no twin until one is put"
    );

    let first = twin_record(hub, device_identity("d1"), 1, "first");
    ok(store.put_twin(first.clone(), None).await, "insert d1 twin");
    let got = ok(
        store.get_twin(hub_name(hub), device_identity("d1")).await,
        "get d1 twin",
    );
    assert_eq!(
        got,
        Some(first.clone()),
        "get returns the inserted twin unchanged"
    );

    fails_with(
        store
            .put_twin(twin_record(hub, device_identity("d1"), 1, "again"), None)
            .await,
        StoreError::Conflict,
        "inserting a twin that exists",
    );
    fails_with(
        store
            .put_twin(twin_record(hub, device_identity("d1"), 8, "stale"), Some(7))
            .await,
        StoreError::PreconditionFailed,
        "replacing with a version that is not the stored one",
    );
    let got = ok(
        store.get_twin(hub_name(hub), device_identity("d1")).await,
        "get d1 twin after refusals",
    );
    assert_eq!(got, Some(first), "refused writes change nothing");

    let second = twin_record(hub, device_identity("d1"), 2, "second");
    ok(
        store.put_twin(second.clone(), Some(1)).await,
        "replace with the stored version",
    );
    let got = ok(
        store.get_twin(hub_name(hub), device_identity("d1")).await,
        "get d1 twin after replace",
    );
    assert_eq!(got, Some(second.clone()), "get sees the replacement");
    // The expected version is compared against the stored one, not the one inside the record.
    fails_with(
        store
            .put_twin(twin_record(hub, device_identity("d1"), 3, "late"), Some(1))
            .await,
        StoreError::PreconditionFailed,
        "replacing with the version that was just replaced",
    );

    fails_with(
        store
            .put_twin(twin_record(hub, device_identity("d2"), 2, "x"), Some(1))
            .await,
        StoreError::NotFound,
        "replacing a twin that was never inserted",
    );
    assert_eq!(
        ok(
            store.get_twin(hub_name(hub), device_identity("d2")).await,
            "get d2 twin"
        ),
        None,
        "a refused replace does not insert"
    );

    let module = twin_record(hub, module_identity("d1", "m1"), 1, "module");
    ok(
        store.put_twin(module.clone(), None).await,
        "insert d1/m1 twin",
    );
    let d2 = twin_record(hub, device_identity("d2"), 1, "d2");
    ok(store.put_twin(d2.clone(), None).await, "insert d2 twin");

    let devices = ok(
        store.list_twins(hub_name(hub), false).await,
        "list device twins",
    );
    assert_eq!(
        devices,
        [second, d2],
        "device twins are listed without modules, ordered by device id"
    );
    let modules = ok(
        store.list_twins(hub_name(hub), true).await,
        "list module twins",
    );
    assert_eq!(modules, [module], "module twins are listed without devices");
    let other = ok(
        store.list_twins(hub_name("conf-twin-other"), false).await,
        "list another hub's twins",
    );
    assert!(other.is_empty(), "twins are per hub");
}

pub async fn twins_are_listed_in_device_then_module_order(store: &dyn Store) {
    let hub = "conf-twin-order";
    // Inserted out of order; byte order puts "d10" before "d2" and "A" before "a".
    let identities = [
        ("d2", Some("m1")),
        ("d10", Some("mb")),
        ("d10", Some("ma")),
        ("d1", Some("m1")),
        ("d2", None),
        ("d10", None),
        ("d1", None),
    ];
    for (device, module) in identities {
        if module.is_none() {
            ok(
                store.create_identity(device_record(hub, device)).await,
                "create device",
            );
        }
    }
    for (device, module) in identities {
        let identity = match module {
            Some(m) => {
                ok(
                    store.create_identity(module_record(hub, device, m)).await,
                    "create module",
                );
                module_identity(device, m)
            }
            None => device_identity(device),
        };
        ok(
            store
                .put_twin(twin_record(hub, identity, 1, device), None)
                .await,
            "insert twin",
        );
    }
    let devices: Vec<_> = ok(store.list_twins(hub_name(hub), false).await, "list devices")
        .into_iter()
        .map(|t| t.identity)
        .collect();
    assert_eq!(
        devices,
        [
            device_identity("d1"),
            device_identity("d10"),
            device_identity("d2")
        ],
        "device twins are ordered by device id"
    );
    let modules: Vec<_> = ok(store.list_twins(hub_name(hub), true).await, "list modules")
        .into_iter()
        .map(|t| t.identity)
        .collect();
    assert_eq!(
        modules,
        [
            module_identity("d1", "m1"),
            module_identity("d10", "ma"),
            module_identity("d10", "mb"),
            module_identity("d2", "m1"),
        ],
        "module twins are ordered by (device id, module id)"
    );
}

pub async fn concurrent_twin_writes_with_the_same_version_have_exactly_one_winner(
    store: &dyn Store,
) {
    const WRITERS: usize = 20;
    let hub = "conf-twin-race";
    ok(
        store.create_identity(device_record(hub, "d1")).await,
        "create d1",
    );
    ok(
        store
            .put_twin(twin_record(hub, device_identity("d1"), 1, "initial"), None)
            .await,
        "insert d1 twin",
    );

    // Build every future first and only then spawn them, so they race as closely as possible.
    let futures: Vec<_> = (0..WRITERS)
        .map(|i| {
            let record = twin_record(hub, device_identity("d1"), 2, &format!("writer-{i}"));
            store.put_twin(record, Some(1))
        })
        .collect();
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();

    let mut winners = Vec::new();
    for (i, handle) in handles.into_iter().enumerate() {
        match handle.await {
            Ok(Ok(())) => winners.push(twin_record(
                hub,
                device_identity("d1"),
                2,
                &format!("writer-{i}"),
            )),
            Ok(Err(StoreError::PreconditionFailed)) => {}
            Ok(Err(e)) => panic!("writer {i}: expected success or PreconditionFailed, got {e:?}"),
            Err(e) => panic!("writer {i} panicked: {e}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one of {WRITERS} racing twin writes wins: {winners:?}"
    );
    let stored = ok(
        store.get_twin(hub_name(hub), device_identity("d1")).await,
        "get d1 twin",
    );
    assert_eq!(stored, winners.pop(), "the stored twin is the winner's");
}

pub async fn a_twin_of_an_unregistered_identity_is_not_found(store: &dyn Store) {
    let hub = "conf-twin-orphan";
    ok(
        store.create_identity(device_record(hub, "d1")).await,
        "create d1",
    );
    for (identity, expected) in [
        (device_identity("ghost"), None),
        (device_identity("ghost"), Some(1)),
        (module_identity("d1", "ghost"), None),
        (module_identity("ghost", "m1"), None),
    ] {
        fails_with(
            store
                .put_twin(twin_record(hub, identity.clone(), 1, "x"), expected)
                .await,
            StoreError::NotFound,
            &format!("putting a twin of unregistered {identity} (expected version {expected:?})"),
        );
        let got = ok(
            store.get_twin(hub_name(hub), identity.clone()).await,
            "get the refused twin",
        );
        assert_eq!(got, None, "a refused twin of {identity} is not stored");
    }
    fails_with(
        store
            .put_twin(
                twin_record("conf-twin-orphan-other", device_identity("d1"), 1, "x"),
                None,
            )
            .await,
        StoreError::NotFound,
        "putting a twin of a device registered only in another hub",
    );
}

pub async fn deleting_an_identity_deletes_its_twins_and_queue(store: &dyn Store) {
    let hub = "conf-twin-cascade";
    for record in [
        device_record(hub, "d1"),
        module_record(hub, "d1", "m1"),
        module_record(hub, "d1", "m2"),
        device_record(hub, "d2"),
        module_record(hub, "d2", "m1"),
    ] {
        let identity = record.identity();
        ok(store.create_identity(record).await, "create identity");
        ok(
            store
                .put_twin(twin_record(hub, identity, 1, "x"), None)
                .await,
            "insert twin",
        );
    }
    for device in ["d1", "d2"] {
        for token in ["a", "b"] {
            ok(
                store.enqueue_c2d(c2d_message(hub, device, token), 10).await,
                "enqueue",
            );
        }
    }

    ok(
        store
            .delete_identity(
                hub_name(hub),
                module_identity("d1", "m2"),
                Precondition::Any,
            )
            .await,
        "delete d1/m2",
    );
    assert_eq!(
        ok(
            store
                .get_twin(hub_name(hub), module_identity("d1", "m2"))
                .await,
            "get d1/m2 twin"
        ),
        None,
        "deleting a module deletes its twin"
    );
    for identity in [device_identity("d1"), module_identity("d1", "m1")] {
        assert!(
            ok(
                store.get_twin(hub_name(hub), identity.clone()).await,
                "get twin"
            )
            .is_some(),
            "deleting a module keeps the twin of {identity}"
        );
    }
    assert_eq!(
        ok(
            store.count_c2d(hub_name(hub), device_id("d1")).await,
            "count d1"
        ),
        2,
        "deleting a module keeps its device's queue"
    );

    ok(
        store
            .delete_identity(hub_name(hub), device_identity("d1"), Precondition::Any)
            .await,
        "delete d1",
    );
    for identity in [device_identity("d1"), module_identity("d1", "m1")] {
        assert_eq!(
            ok(
                store.get_twin(hub_name(hub), identity.clone()).await,
                "get twin"
            ),
            None,
            "deleting a device deletes the twin of {identity}"
        );
    }
    assert_eq!(
        ok(
            store.count_c2d(hub_name(hub), device_id("d1")).await,
            "count d1"
        ),
        0,
        "deleting a device deletes its cloud-to-device queue"
    );
    assert!(
        ok(
            store.peek_c2d(hub_name(hub), device_id("d1"), 10).await,
            "peek d1"
        )
        .is_empty(),
        "a deleted device's queue peeks empty"
    );

    for identity in [device_identity("d2"), module_identity("d2", "m1")] {
        assert!(
            ok(
                store.get_twin(hub_name(hub), identity.clone()).await,
                "get twin"
            )
            .is_some(),
            "another device's twin survives: {identity}"
        );
    }
    let kept: Vec<_> = ok(
        store.peek_c2d(hub_name(hub), device_id("d2"), 10).await,
        "peek d2",
    )
    .into_iter()
    .map(|m| m.lock_token)
    .collect();
    assert_eq!(
        kept,
        [
            c2d_message(hub, "d2", "a").lock_token,
            c2d_message(hub, "d2", "b").lock_token
        ],
        "another device's queue survives"
    );

    // A device re-created under the same id starts with no twin and an empty queue.
    ok(
        store.create_identity(device_record(hub, "d1")).await,
        "re-create d1",
    );
    assert_eq!(
        ok(
            store.get_twin(hub_name(hub), device_identity("d1")).await,
            "get twin"
        ),
        None,
        "a re-created device does not inherit the old twin"
    );
    assert_eq!(
        ok(
            store.count_c2d(hub_name(hub), device_id("d1")).await,
            "count d1"
        ),
        0,
        "a re-created device does not inherit the old queue"
    );
    ok(
        store
            .put_twin(twin_record(hub, device_identity("d1"), 1, "new"), None)
            .await,
        "a re-created device's twin can be inserted afresh",
    );
}
