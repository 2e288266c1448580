//! Conformance checks for CA certificates and hub settings.

use crate::ca_certificate::{CaCertificateName, CaCertificateRecord};
use crate::error::StoreError;
use crate::hub::HubRecord;
use crate::precondition::Precondition;
use crate::traits::Store;

use super::fixtures::{fails_with, hub_name, ok};

fn hub(name: &str) -> HubRecord {
    HubRecord {
        name: hub_name(name),
        hostname: format!("{name}.example.net"),
        created_time: "2024-01-01T00:00:00Z".to_owned(),
        disable_device_sas: false,
        disable_module_sas: false,
    }
}

fn cert_name(name: &str) -> CaCertificateName {
    CaCertificateName::new(name)
        .unwrap_or_else(|e| panic!("fixture certificate name {name:?} is invalid: {e}"))
}

/// An unverified certificate with etag `"e0"`; the DER is binary so a backend cannot store
/// it as text.
pub fn ca_certificate_record(hub: &str, name: &str) -> CaCertificateRecord {
    CaCertificateRecord {
        hub: hub_name(hub),
        name: cert_name(name),
        der: [name.as_bytes(), &[0x30, 0x82, 0x00, 0xff, 0x80]].concat(),
        subject: format!("CN={name}"),
        thumbprint: "0123456789ABCDEF0123456789ABCDEF01234567".to_owned(),
        expiry: "2034-01-01T00:00:00Z".to_owned(),
        is_verified: false,
        etag: "e0".to_owned(),
        verification_code: None,
        created_time: "2024-01-01T00:00:00Z".to_owned(),
        updated_time: "2024-01-01T00:00:00Z".to_owned(),
    }
}

pub async fn ca_certificates_round_trip_with_etags(store: &dyn Store) {
    ok(store.put_hub(hub("conf-ca-a")).await, "put hub");
    let b = ca_certificate_record("conf-ca-a", "b-intermediate");
    let a = ca_certificate_record("conf-ca-a", "a-root");
    ok(store.create_ca_certificate(b.clone()).await, "create b");
    ok(store.create_ca_certificate(a.clone()).await, "create a");
    fails_with(
        store.create_ca_certificate(a.clone()).await,
        StoreError::Conflict,
        "creating the same certificate twice",
    );
    let got = ok(
        store
            .get_ca_certificate(hub_name("conf-ca-a"), cert_name("a-root"))
            .await,
        "get a",
    );
    assert_eq!(got, Some(a.clone()), "a certificate comes back as stored");
    let listed = ok(
        store.list_ca_certificates(hub_name("conf-ca-a")).await,
        "list",
    );
    assert_eq!(listed, [a.clone(), b.clone()], "listed in name order");

    let verified = CaCertificateRecord {
        is_verified: true,
        etag: "e1".to_owned(),
        verification_code: Some("CODE".to_owned()),
        updated_time: "2024-01-02T00:00:00Z".to_owned(),
        ..a.clone()
    };
    fails_with(
        store
            .update_ca_certificate(verified.clone(), Precondition::IfMatch("stale".into()))
            .await,
        StoreError::PreconditionFailed,
        "updating with a stale etag",
    );
    ok(
        store
            .update_ca_certificate(verified.clone(), Precondition::IfMatch("e0".into()))
            .await,
        "update with the current etag",
    );
    assert_eq!(
        ok(
            store
                .get_ca_certificate(hub_name("conf-ca-a"), cert_name("a-root"))
                .await,
            "get after update"
        ),
        Some(verified.clone()),
        "an update replaces every field"
    );

    fails_with(
        store
            .delete_ca_certificate(
                hub_name("conf-ca-a"),
                cert_name("a-root"),
                Precondition::IfMatch("e0".into()),
            )
            .await,
        StoreError::PreconditionFailed,
        "deleting with a stale etag",
    );
    let deleted = ok(
        store
            .delete_ca_certificate(
                hub_name("conf-ca-a"),
                cert_name("a-root"),
                Precondition::IfMatch("e1".into()),
            )
            .await,
        "delete with the current etag",
    );
    assert_eq!(deleted, verified, "delete returns the deleted record");
    assert_eq!(
        ok(
            store
                .get_ca_certificate(hub_name("conf-ca-a"), cert_name("a-root"))
                .await,
            "get after delete"
        ),
        None
    );
}

pub async fn missing_ca_certificates_and_hubs_are_not_found(store: &dyn Store) {
    ok(store.put_hub(hub("conf-ca-missing")).await, "put hub");
    let absent = ca_certificate_record("conf-ca-missing", "absent");
    fails_with(
        store
            .update_ca_certificate(absent.clone(), Precondition::Any)
            .await,
        StoreError::NotFound,
        "updating a missing certificate",
    );
    fails_with(
        store
            .delete_ca_certificate(
                hub_name("conf-ca-missing"),
                cert_name("absent"),
                Precondition::Any,
            )
            .await,
        StoreError::NotFound,
        "deleting a missing certificate",
    );
    fails_with(
        store
            .create_ca_certificate(ca_certificate_record("conf-ca-nowhere", "root"))
            .await,
        StoreError::NotFound,
        "creating a certificate of a hub that does not exist",
    );
}

pub async fn two_hubs_keep_separate_ca_certificates(store: &dyn Store) {
    ok(store.put_hub(hub("conf-ca-x")).await, "put hub x");
    ok(store.put_hub(hub("conf-ca-y")).await, "put hub y");
    let x = ca_certificate_record("conf-ca-x", "root");
    let y = CaCertificateRecord {
        is_verified: true,
        ..ca_certificate_record("conf-ca-y", "root")
    };
    ok(store.create_ca_certificate(x.clone()).await, "create in x");
    ok(
        store.create_ca_certificate(y.clone()).await,
        "the same name in another hub",
    );
    assert_eq!(
        ok(
            store.list_ca_certificates(hub_name("conf-ca-x")).await,
            "list x"
        ),
        [x]
    );
    ok(
        store
            .delete_ca_certificate(hub_name("conf-ca-x"), cert_name("root"), Precondition::Any)
            .await,
        "delete in x",
    );
    assert_eq!(
        ok(
            store.list_ca_certificates(hub_name("conf-ca-y")).await,
            "list y"
        ),
        [y],
        "deleting in one hub leaves the other's certificate"
    );
}

pub async fn hub_settings_update_and_persist(store: &dyn Store) {
    let original = hub("conf-settings");
    ok(store.put_hub(original.clone()).await, "put hub");
    let changed = HubRecord {
        disable_device_sas: true,
        ..original.clone()
    };
    ok(store.update_hub(changed.clone()).await, "update settings");
    let hubs = ok(store.hubs().await, "list hubs");
    let stored = hubs.iter().find(|h| h.name == original.name).cloned();
    assert_eq!(stored, Some(changed.clone()), "the new setting is stored");
    let modules_too = HubRecord {
        disable_module_sas: true,
        ..changed
    };
    ok(
        store.update_hub(modules_too.clone()).await,
        "update settings again",
    );
    let hubs = ok(store.hubs().await, "list hubs");
    let stored = hubs.iter().find(|h| h.name == original.name).cloned();
    assert_eq!(stored, Some(modules_too), "both settings are stored");
    fails_with(
        store.update_hub(hub("conf-settings-nowhere")).await,
        StoreError::NotFound,
        "updating a hub that does not exist",
    );
}
