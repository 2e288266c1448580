//! Conformance checks for the identity registry: CRUD, conflicts, modules, listing and counts.

use crate::error::StoreError;
use crate::identity::{DeviceCounts, DeviceStatus};
use crate::precondition::Precondition;
use crate::traits::Store;

use super::fixtures::{
    device_id, device_identity, device_record, fails_with, hub_name, module_identity,
    module_record, ok, session,
};

pub async fn create_get_update_delete_round_trip(store: &dyn Store) {
    let hub = "conf-crud";
    let created = ok(
        store.create_identity(device_record(hub, "d1")).await,
        "create d1",
    );
    assert_eq!(
        created,
        device_record(hub, "d1"),
        "create returns the record it stored"
    );

    let got = ok(
        store
            .get_identity(hub_name(hub), device_identity("d1"))
            .await,
        "get d1",
    );
    assert_eq!(
        got,
        Some(device_record(hub, "d1")),
        "get returns the created record unchanged"
    );

    let mut changed = device_record(hub, "d1");
    changed.etag = "e1".into();
    changed.status = DeviceStatus::Disabled;
    changed.status_reason = Some("maintenance".into());
    changed.parent_scopes = vec!["edge-scope".into()];
    let updated = ok(
        store
            .update_identity(changed.clone(), Precondition::Any)
            .await,
        "update d1",
    );
    assert_eq!(updated, changed, "update returns the new record");
    let got = ok(
        store
            .get_identity(hub_name(hub), device_identity("d1"))
            .await,
        "get d1 after update",
    );
    assert_eq!(got, Some(changed.clone()), "get sees the update");

    let deleted = ok(
        store
            .delete_identity(hub_name(hub), device_identity("d1"), Precondition::Any)
            .await,
        "delete d1",
    );
    assert_eq!(deleted, changed, "delete returns the record it removed");
    let got = ok(
        store
            .get_identity(hub_name(hub), device_identity("d1"))
            .await,
        "get d1 after delete",
    );
    assert_eq!(got, None, "a deleted device is gone");
}

pub async fn creating_an_existing_identity_conflicts(store: &dyn Store) {
    let hub = "conf-conflict";
    ok(
        store.create_identity(device_record(hub, "d1")).await,
        "create d1",
    );
    fails_with(
        store.create_identity(device_record(hub, "d1")).await,
        StoreError::Conflict,
        "creating d1 twice",
    );
    ok(
        store.create_identity(module_record(hub, "d1", "m1")).await,
        "create d1/m1",
    );
    fails_with(
        store.create_identity(module_record(hub, "d1", "m1")).await,
        StoreError::Conflict,
        "creating d1/m1 twice",
    );
}

pub async fn missing_identities_are_not_found(store: &dyn Store) {
    let hub = "conf-missing";
    let got = ok(
        store
            .get_identity(hub_name(hub), device_identity("nope"))
            .await,
        "get missing",
    );
    assert_eq!(got, None, "getting a missing device yields None");
    fails_with(
        store
            .update_identity(device_record(hub, "nope"), Precondition::Any)
            .await,
        StoreError::NotFound,
        "updating a missing device",
    );
    fails_with(
        store
            .delete_identity(hub_name(hub), device_identity("nope"), Precondition::Any)
            .await,
        StoreError::NotFound,
        "deleting a missing device",
    );
    fails_with(
        store
            .delete_identity(
                hub_name(hub),
                module_identity("nope", "m"),
                Precondition::Any,
            )
            .await,
        StoreError::NotFound,
        "deleting a missing module",
    );
}

pub async fn modules_require_their_device(store: &dyn Store) {
    let hub = "conf-modules";
    fails_with(
        store
            .create_identity(module_record(hub, "ghost", "m1"))
            .await,
        StoreError::NotFound,
        "creating a module of a missing device",
    );
    ok(
        store.create_identity(device_record(hub, "d1")).await,
        "create d1",
    );
    for m in ["m2", "m1", "m3"] {
        ok(
            store.create_identity(module_record(hub, "d1", m)).await,
            "create module",
        );
    }
    let got = ok(
        store
            .get_identity(hub_name(hub), module_identity("d1", "m2"))
            .await,
        "get d1/m2",
    );
    assert_eq!(
        got,
        Some(module_record(hub, "d1", "m2")),
        "get returns the module"
    );

    let modules = ok(
        store.list_modules(hub_name(hub), device_id("d1")).await,
        "list modules",
    );
    let ids: Vec<_> = modules
        .iter()
        .filter_map(|m| m.module_id.as_ref().map(|id| id.as_str()))
        .collect();
    assert_eq!(
        ids,
        ["m1", "m2", "m3"],
        "list_modules yields the device's modules ordered by id"
    );

    let devices = ok(
        store.list_devices(hub_name(hub), None, 100).await,
        "list devices",
    );
    assert_eq!(
        devices.len(),
        1,
        "list_devices leaves modules out: {devices:?}"
    );
    let counts = ok(store.count_devices(hub_name(hub)).await, "count");
    assert_eq!(counts.total, 1, "count_devices leaves modules out");

    let deleted = ok(
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
        deleted,
        module_record(hub, "d1", "m2"),
        "deleting a module returns it"
    );
    let remaining = ok(
        store.list_modules(hub_name(hub), device_id("d1")).await,
        "list modules",
    );
    assert_eq!(
        remaining.len(),
        2,
        "deleting one module leaves its siblings"
    );
    let device = ok(
        store
            .get_identity(hub_name(hub), device_identity("d1"))
            .await,
        "get d1",
    );
    assert!(device.is_some(), "deleting a module leaves its device");
}

pub async fn deleting_a_device_removes_its_modules_and_sessions(store: &dyn Store) {
    let hub = "conf-cascade";
    ok(
        store.create_identity(device_record(hub, "d1")).await,
        "create d1",
    );
    ok(
        store.create_identity(module_record(hub, "d1", "m1")).await,
        "create d1/m1",
    );
    ok(
        store.create_identity(device_record(hub, "d2")).await,
        "create d2",
    );
    ok(
        store.create_identity(module_record(hub, "d2", "m1")).await,
        "create d2/m1",
    );
    for identity in [
        device_identity("d1"),
        module_identity("d1", "m1"),
        device_identity("d2"),
    ] {
        ok(
            store
                .put_session(session(
                    hub,
                    identity,
                    &["devices/x/messages/devicebound/#"],
                ))
                .await,
            "put session",
        );
    }

    ok(
        store
            .delete_identity(hub_name(hub), device_identity("d1"), Precondition::Any)
            .await,
        "delete d1",
    );
    let module = ok(
        store
            .get_identity(hub_name(hub), module_identity("d1", "m1"))
            .await,
        "get d1/m1",
    );
    assert_eq!(module, None, "deleting a device deletes its modules");
    let modules = ok(
        store.list_modules(hub_name(hub), device_id("d1")).await,
        "list d1 modules",
    );
    assert!(modules.is_empty(), "a deleted device lists no modules");
    for identity in [device_identity("d1"), module_identity("d1", "m1")] {
        let s = ok(
            store.get_session(hub_name(hub), identity.clone()).await,
            "get session",
        );
        assert_eq!(
            s, None,
            "deleting a device deletes the session of {identity}"
        );
    }

    let other = ok(
        store
            .get_identity(hub_name(hub), module_identity("d2", "m1"))
            .await,
        "get d2/m1",
    );
    assert!(other.is_some(), "another device's module survives");
    let other = ok(
        store
            .get_session(hub_name(hub), device_identity("d2"))
            .await,
        "get d2 session",
    );
    assert!(other.is_some(), "another device's session survives");
}

pub async fn devices_are_listed_in_id_order_and_page_after_a_cursor(store: &dyn Store) {
    let hub = "conf-paging";
    // Inserted out of order, and with ids whose byte order differs from case-insensitive order.
    let ids = ["d05", "B", "d01", "d03", "a", "d04", "d02"];
    for id in ids {
        ok(
            store.create_identity(device_record(hub, id)).await,
            "create device",
        );
    }
    ok(
        store.create_identity(module_record(hub, "d01", "m1")).await,
        "create module",
    );
    let mut expected: Vec<&str> = ids.to_vec();
    expected.sort_unstable();

    let all = ok(
        store.list_devices(hub_name(hub), None, 100).await,
        "list all",
    );
    let got: Vec<_> = all.iter().map(|d| d.device_id.as_str()).collect();
    assert_eq!(
        got, expected,
        "devices come back ordered by id (byte order)"
    );

    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = ok(
            store.list_devices(hub_name(hub), after.clone(), 3).await,
            "list page",
        );
        assert!(page.len() <= 3, "a page never exceeds the limit");
        let Some(last) = page.last() else { break };
        after = Some(last.device_id.clone());
        paged.extend(page.iter().map(|d| d.device_id.as_str().to_owned()));
    }
    assert_eq!(
        paged, expected,
        "paging with the last id as cursor visits every device once, in order"
    );

    let from_middle = ok(
        store
            .list_devices(hub_name(hub), Some(device_id("d02")), 2)
            .await,
        "list after d02",
    );
    let got: Vec<_> = from_middle.iter().map(|d| d.device_id.as_str()).collect();
    assert_eq!(got, ["d03", "d04"], "the cursor is exclusive");

    let none = ok(
        store.list_devices(hub_name(hub), None, 0).await,
        "list zero",
    );
    assert!(none.is_empty(), "a zero limit yields nothing");
}

pub async fn counts_split_devices_by_status(store: &dyn Store) {
    let hub = "conf-counts";
    let empty = ok(store.count_devices(hub_name(hub)).await, "count empty hub");
    assert_eq!(empty, DeviceCounts::default(), "an empty hub counts zero");
    for (id, status) in [
        ("d1", DeviceStatus::Enabled),
        ("d2", DeviceStatus::Disabled),
        ("d3", DeviceStatus::Enabled),
    ] {
        let mut record = device_record(hub, id);
        record.status = status;
        ok(store.create_identity(record).await, "create device");
    }
    ok(
        store.create_identity(module_record(hub, "d1", "m1")).await,
        "create module",
    );
    let counts = ok(store.count_devices(hub_name(hub)).await, "count");
    assert_eq!(
        counts,
        DeviceCounts {
            total: 3,
            enabled: 2,
            disabled: 1
        },
        "counts cover devices only, split by status"
    );

    let mut disabled = device_record(hub, "d1");
    disabled.status = DeviceStatus::Disabled;
    disabled.etag = "e1".into();
    ok(
        store.update_identity(disabled, Precondition::Any).await,
        "disable d1",
    );
    let counts = ok(
        store.count_devices(hub_name(hub)).await,
        "count after update",
    );
    assert_eq!(
        (counts.enabled, counts.disabled),
        (1, 2),
        "counts follow status updates"
    );
}

pub async fn two_hubs_keep_separate_registries(store: &dyn Store) {
    let (a, b) = ("conf-tenant-a", "conf-tenant-b");
    ok(
        store.create_identity(device_record(a, "same")).await,
        "create in hub a",
    );
    let mut other = device_record(b, "same");
    other.generation_id = "gen-b".into();
    ok(
        store.create_identity(other.clone()).await,
        "the same device id in another hub does not conflict",
    );

    let got = ok(
        store
            .get_identity(hub_name(b), device_identity("same"))
            .await,
        "get in hub b",
    );
    assert_eq!(got, Some(other), "each hub sees its own record");

    ok(
        store
            .delete_identity(hub_name(a), device_identity("same"), Precondition::Any)
            .await,
        "delete in hub a",
    );
    let got = ok(
        store
            .get_identity(hub_name(b), device_identity("same"))
            .await,
        "get in hub b",
    );
    assert!(
        got.is_some(),
        "deleting in one hub leaves the other hub's device"
    );
    let listed = ok(
        store.list_devices(hub_name(a), None, 10).await,
        "list hub a",
    );
    assert!(listed.is_empty(), "hub a lists nothing from hub b");
    let counts = ok(store.count_devices(hub_name(b)).await, "count hub b");
    assert_eq!(counts.total, 1, "counts are per hub");
}

pub async fn self_signed_thumbprints_of_every_hub_are_listed(store: &dyn Store) {
    use crate::identity::AuthenticationType;
    let self_signed = |mut record: crate::identity::DeviceRecord, primary: &str, secondary| {
        record.authentication.kind = AuthenticationType::SelfSigned;
        record.authentication.primary_key = None;
        record.authentication.secondary_key = None;
        record.authentication.primary_thumbprint = Some(primary.to_owned());
        record.authentication.secondary_thumbprint = secondary;
        record
    };
    let (hub_a, hub_b) = ("conf-thumbs-a", "conf-thumbs-b");
    let records = [
        self_signed(device_record(hub_a, "t1"), "AA01", Some("AA02".to_owned())),
        self_signed(device_record(hub_b, "t2"), "BB01", None),
        device_record(hub_a, "t3"),
        self_signed(module_record(hub_a, "t3", "m"), "CC01", None),
    ];
    for record in records {
        ok(store.create_identity(record).await, "create");
    }
    // A CA-authenticated identity's leftover thumbprint fields do not count.
    let mut ca = device_record(hub_b, "t4");
    ca.authentication.kind = AuthenticationType::CertificateAuthority;
    ca.authentication.primary_thumbprint = Some("DD01".to_owned());
    ok(store.create_identity(ca).await, "create t4");

    let listed = ok(store.self_signed_thumbprints().await, "list thumbprints");
    for expected in ["AA01", "AA02", "BB01", "CC01"] {
        assert!(
            listed.iter().any(|t| t == expected),
            "{expected} listed: {listed:?}"
        );
    }
    assert!(
        !listed.iter().any(|t| t == "DD01"),
        "not selfSigned: {listed:?}"
    );

    ok(
        store
            .delete_identity(hub_name(hub_a), device_identity("t1"), Precondition::Any)
            .await,
        "delete t1",
    );
    let listed = ok(store.self_signed_thumbprints().await, "list after delete");
    assert!(
        !listed.iter().any(|t| t == "AA01" || t == "AA02"),
        "a deleted identity's thumbprints are gone: {listed:?}"
    );
}
