//! Conformance checks for persistent MQTT sessions.

use crate::traits::Store;

use super::fixtures::{device_identity, hub_name, module_identity, ok, session};

pub async fn sessions_upsert_and_delete(store: &dyn Store) {
    let hub = "conf-sessions";
    let id = device_identity("d1");
    let missing = ok(
        store.get_session(hub_name(hub), id.clone()).await,
        "get missing session",
    );
    assert_eq!(missing, None, "no session before one is put");

    let first = session(hub, id.clone(), &["devices/d1/messages/devicebound/#"]);
    ok(store.put_session(first.clone()).await, "put session");
    let got = ok(
        store.get_session(hub_name(hub), id.clone()).await,
        "get session",
    );
    assert_eq!(got, Some(first), "get returns the stored session");

    let mut second = session(
        hub,
        id.clone(),
        &["$iothub/twin/res/#", "$iothub/methods/POST/#"],
    );
    second.updated_time = "2024-01-02T00:00:00Z".into();
    ok(store.put_session(second.clone()).await, "put session again");
    let got = ok(
        store.get_session(hub_name(hub), id.clone()).await,
        "get replaced session",
    );
    assert_eq!(
        got,
        Some(second),
        "put replaces the session, keeping filter order"
    );

    let module = session(hub, module_identity("d1", "m1"), &["$iothub/twin/res/#"]);
    ok(
        store.put_session(module.clone()).await,
        "put module session",
    );
    let other_hub = ok(
        store
            .get_session(hub_name("conf-sessions-other"), id.clone())
            .await,
        "get other hub",
    );
    assert_eq!(other_hub, None, "sessions are per hub");

    assert!(
        ok(
            store.delete_session(hub_name(hub), id.clone()).await,
            "delete"
        ),
        "deleting an existing session reports true"
    );
    assert!(
        !ok(
            store.delete_session(hub_name(hub), id.clone()).await,
            "delete again"
        ),
        "deleting a missing session reports false"
    );
    let gone = ok(store.get_session(hub_name(hub), id).await, "get deleted");
    assert_eq!(gone, None, "a deleted session is gone");
    let kept = ok(
        store
            .get_session(hub_name(hub), module_identity("d1", "m1"))
            .await,
        "get module session",
    );
    assert_eq!(
        kept,
        Some(module),
        "a device's session and its module's are separate"
    );
}
