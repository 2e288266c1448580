//! Conformance checks for the hub catalog and shared access policies.

use crate::error::StoreError;
use crate::hub::{HubRecord, SharedAccessPolicy};
use crate::rights::{AccessRights, Rights};
use crate::traits::Store;

use super::fixtures::{fails_with, hub_name, ok};

fn hub(name: &str, hostname: &str) -> HubRecord {
    HubRecord {
        name: hub_name(name),
        hostname: hostname.to_owned(),
        created_time: "2024-01-01T00:00:00Z".to_owned(),
        disable_device_sas: false,
        disable_module_sas: false,
    }
}

fn policy(hub: &str, name: &str, key: &str, rights: Rights) -> SharedAccessPolicy {
    SharedAccessPolicy {
        hub: hub_name(hub),
        name: name.to_owned(),
        primary_key: format!("{key}-primary"),
        secondary_key: format!("{key}-secondary"),
        rights,
    }
}

pub async fn hubs_and_policies_round_trip(store: &dyn Store) {
    let a = hub("conf-catalog-a", "conf-catalog-a.example.net");
    let b = hub("conf-catalog-b", "conf-catalog-b.example.net");
    ok(store.put_hub(b.clone()).await, "put hub b");
    ok(store.put_hub(a.clone()).await, "put hub a");
    fails_with(
        store.put_hub(a.clone()).await,
        StoreError::Conflict,
        "putting the same hub twice",
    );

    let hubs = ok(store.hubs().await, "list hubs");
    let ours: Vec<_> = hubs
        .into_iter()
        .filter(|h| h.name.as_str().starts_with("conf-catalog-"))
        .collect();
    assert_eq!(ours, [a, b], "hubs come back as stored, ordered by name");

    let owner = policy("conf-catalog-a", "iothubowner", "k1", Rights::all());
    let device = policy(
        "conf-catalog-a",
        "device",
        "k2",
        Rights::empty().with(AccessRights::DeviceConnect),
    );
    ok(store.put_policy(owner.clone()).await, "put iothubowner");
    ok(store.put_policy(device.clone()).await, "put device policy");
    let got = ok(
        store.policies(hub_name("conf-catalog-a")).await,
        "list policies",
    );
    assert_eq!(
        got,
        [device.clone(), owner],
        "policies come back as stored, ordered by name"
    );

    let rotated = policy("conf-catalog-a", "iothubowner", "rotated", Rights::all());
    ok(
        store.put_policy(rotated.clone()).await,
        "re-put iothubowner",
    );
    let got = ok(
        store.policies(hub_name("conf-catalog-a")).await,
        "list policies",
    );
    assert_eq!(
        got,
        [device, rotated],
        "putting a policy with the same name replaces it"
    );

    let none = ok(
        store.policies(hub_name("conf-catalog-b")).await,
        "list hub b policies",
    );
    assert!(none.is_empty(), "policies are per hub");
}

pub async fn hostnames_are_unique_across_hubs(store: &dyn Store) {
    ok(
        store
            .put_hub(hub("conf-hostname-a", "conf-hostname.example.net"))
            .await,
        "put first hub",
    );
    fails_with(
        store
            .put_hub(hub("conf-hostname-b", "conf-hostname.example.net"))
            .await,
        StoreError::Conflict,
        "a second hub with a taken host name",
    );
    let hubs = ok(store.hubs().await, "list hubs");
    assert!(
        !hubs.iter().any(|h| h.name.as_str() == "conf-hostname-b"),
        "a refused hub is not stored"
    );
}

pub async fn a_policy_for_an_unknown_hub_is_not_found(store: &dyn Store) {
    fails_with(
        store
            .put_policy(policy(
                "conf-catalog-nowhere",
                "service",
                "k",
                Rights::all(),
            ))
            .await,
        StoreError::NotFound,
        "putting a policy of a hub that does not exist",
    );
}
