//! The hub against the real SQLite store and the real segment log in a temp dir, with a
//! manual clock. No mocks of our own traits.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferrohub_core::clock::ManualClock;
use ferrohub_core::device_auth::DeviceAuthError;
use ferrohub_core::hub::LogOpener;
use ferrohub_core::registry::IdentitySpec;
use ferrohub_core::{Hub, HubConfig, HubError};
use ferrohub_log::{LogConfig, SegmentLog, StartPosition, TelemetryLog};
use ferrohub_protocol::session::HubEvent;
use ferrohub_protocol::telemetry::{MessageKind, TelemetryMessage};
use ferrohub_protocol::topic::Subscription;
use ferrohub_protocol::{HubName, Identity};
use ferrohub_store::{DeviceStatus, Precondition};
use ferrohub_store_sqlite::SqliteStore;
use time::OffsetDateTime;

struct Fixture {
    _dir: tempfile::TempDir,
    hub: Hub,
    clock: Arc<ManualClock>,
    name: HubName,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db.sqlite")).unwrap();
    let logs = dir.path().join("logs");
    let open_log: LogOpener = Arc::new(move |hub: &HubName| {
        let log = SegmentLog::open(LogConfig::new(logs.join(hub.as_str())))?;
        Ok::<Arc<dyn TelemetryLog>, HubError>(Arc::new(log))
    });
    let clock = Arc::new(ManualClock::new(
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
    ));
    let name = HubName::new("main").unwrap();
    let config = HubConfig {
        default_hub: name.clone(),
        default_hostnames: vec!["hub.test".into()],
    };
    let hub = Hub::open(Arc::new(store), open_log, clock.clone(), config)
        .await
        .unwrap();
    Fixture {
        _dir: dir,
        hub,
        clock,
        name,
    }
}

fn device(id: &str) -> Identity {
    Identity::from_client_id(id).unwrap()
}

fn token(f: &Fixture, resource: &str, key: &str, ttl: i64) -> String {
    let expiry = u64::try_from(f.clock.now_unix() + ttl).unwrap();
    ferrohub_protocol::sas::sign(resource, key, expiry, None).unwrap()
}

trait UnixNow {
    fn now_unix(&self) -> i64;
}
impl UnixNow for ManualClock {
    fn now_unix(&self) -> i64 {
        ferrohub_core::clock::Clock::now(self).unix_timestamp()
    }
}

async fn create(f: &Fixture, id: &str) -> String {
    let (record, _) = f
        .hub
        .put_identity(&f.name, &device(id), IdentitySpec::default(), None)
        .await
        .unwrap();
    record.authentication.primary_key.unwrap()
}

#[tokio::test]
async fn opening_creates_the_default_hub_with_its_five_policies() {
    let f = fixture().await;
    let names: Vec<String> = f
        .hub
        .directory()
        .policies(&f.name)
        .into_iter()
        .map(|p| p.name)
        .collect();
    for policy in [
        "iothubowner",
        "service",
        "device",
        "registryRead",
        "registryReadWrite",
    ] {
        assert!(names.contains(&policy.to_owned()), "{policy}");
    }
    assert_eq!(
        f.hub.directory().hub_for_host("HUB.test:443"),
        Some(f.name.clone())
    );
}

#[tokio::test]
async fn a_token_is_valid_until_its_expiry_by_the_hubs_clock() {
    let f = fixture().await;
    let key = create(&f, "dev1").await;
    let t = token(&f, "hub.test/devices/dev1", &key, 60);
    let ok = f
        .hub
        .authenticate_device("hub.test", &device("dev1"), Some(t.as_bytes()))
        .await
        .unwrap();
    assert_eq!(ok.valid_for, Some(Duration::from_secs(60)));
    f.clock.advance(time::Duration::seconds(60));
    let err = f
        .hub
        .authenticate_device("hub.test", &device("dev1"), Some(t.as_bytes()))
        .await
        .unwrap_err();
    assert_eq!(err, DeviceAuthError::Expired);
}

#[tokio::test]
async fn a_device_key_does_not_open_a_module_and_vice_versa() {
    let f = fixture().await;
    let device_key = create(&f, "dev1").await;
    let (module, _) = f
        .hub
        .put_identity(&f.name, &device("dev1/m1"), IdentitySpec::default(), None)
        .await
        .unwrap();
    let module_key = module.authentication.primary_key.unwrap();
    let as_module = token(&f, "hub.test/devices/dev1/modules/m1", &device_key, 60);
    assert_eq!(
        f.hub
            .authenticate_device("hub.test", &device("dev1/m1"), Some(as_module.as_bytes()))
            .await
            .unwrap_err(),
        DeviceAuthError::BadSignature
    );
    let module_as_device = token(&f, "hub.test/devices/dev1", &module_key, 60);
    assert_eq!(
        f.hub
            .authenticate_device(
                "hub.test",
                &device("dev1"),
                Some(module_as_device.as_bytes())
            )
            .await
            .unwrap_err(),
        DeviceAuthError::BadSignature
    );
    let good = token(&f, "hub.test/devices/dev1/modules/m1", &module_key, 60);
    assert!(
        f.hub
            .authenticate_device("hub.test", &device("dev1/m1"), Some(good.as_bytes()))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_module_of_a_disabled_device_is_refused() {
    let f = fixture().await;
    create(&f, "dev1").await;
    let (module, _) = f
        .hub
        .put_identity(&f.name, &device("dev1/m1"), IdentitySpec::default(), None)
        .await
        .unwrap();
    let spec = IdentitySpec {
        status: DeviceStatus::Disabled,
        ..IdentitySpec::default()
    };
    f.hub
        .put_identity(&f.name, &device("dev1"), spec, Some(Precondition::Any))
        .await
        .unwrap();
    let t = token(
        &f,
        "hub.test/devices/dev1/modules/m1",
        module.authentication.primary_key.as_deref().unwrap(),
        60,
    );
    assert_eq!(
        f.hub
            .authenticate_device("hub.test", &device("dev1/m1"), Some(t.as_bytes()))
            .await
            .unwrap_err(),
        DeviceAuthError::Disabled
    );
}

#[tokio::test]
async fn updating_without_keys_keeps_them_and_disabling_revokes_the_connection() {
    let f = fixture().await;
    let key = create(&f, "dev1").await;
    let (_lease, mut events) =
        f.hub
            .presence()
            .register(&f.name, &device("dev1"), true, OffsetDateTime::UNIX_EPOCH);
    let (updated, _) = f
        .hub
        .put_identity(
            &f.name,
            &device("dev1"),
            IdentitySpec {
                status: DeviceStatus::Disabled,
                ..IdentitySpec::default()
            },
            Some(Precondition::Any),
        )
        .await
        .unwrap();
    assert_eq!(
        updated.authentication.primary_key.as_deref(),
        Some(key.as_str())
    );
    assert_eq!(events.try_recv(), Some(HubEvent::Revoked));
}

#[tokio::test]
async fn telemetry_is_stamped_with_the_authenticated_identity_and_appended_durably() {
    let f = fixture().await;
    let key = create(&f, "dev1").await;
    let t = token(&f, "hub.test/devices/dev1", &key, 60);
    let auth = f
        .hub
        .authenticate_device("hub.test", &device("dev1"), Some(t.as_bytes()))
        .await
        .unwrap();
    let message = TelemetryMessage::from_bag(
        "%24.mid=m1&k=v",
        Bytes::from_static(b"hi"),
        false,
        MessageKind::Will,
    )
    .unwrap();
    let receipt = f
        .hub
        .ingest_telemetry(&auth, message)
        .unwrap()
        .await
        .unwrap();
    let log = f.hub.log_for(&f.name).unwrap();
    let stored = log
        .read(
            receipt.partition,
            StartPosition::SequenceNumber(receipt.sequence_number),
            10,
        )
        .unwrap();
    assert_eq!(stored.len(), 1, "the device's message is the newest record");
    let props = &stored[0].data;
    assert!(
        props
            .system_properties
            .contains(&("iothub-message-source".into(), "Telemetry".into()))
    );
    assert!(props.properties.contains(&("k".into(), "v".into())));
    assert!(
        props
            .properties
            .contains(&("iothub-MessageType".into(), "Will".into()))
    );
    assert!(
        props
            .system_properties
            .contains(&("message-id".into(), "m1".into()))
    );
    assert!(
        props
            .system_properties
            .contains(&("iothub-connection-device-id".into(), "dev1".into()))
    );
    assert!(props.system_properties.contains(&(
        "iothub-connection-auth-generation-id".into(),
        auth.generation_id.clone()
    )));
}

#[tokio::test]
async fn oversized_telemetry_is_refused_before_the_append() {
    let f = fixture().await;
    let key = create(&f, "dev1").await;
    let t = token(&f, "hub.test/devices/dev1", &key, 60);
    let auth = f
        .hub
        .authenticate_device("hub.test", &device("dev1"), Some(t.as_bytes()))
        .await
        .unwrap();
    let message = TelemetryMessage::from_bag(
        "",
        Bytes::from(vec![0u8; 256 * 1024 + 1]),
        false,
        MessageKind::Telemetry,
    )
    .unwrap();
    assert!(matches!(
        f.hub.ingest_telemetry(&auth, message),
        Err(HubError::MessageTooLarge { .. })
    ));
}

#[tokio::test]
async fn persistent_sessions_come_back_unless_the_device_asks_for_a_clean_one() {
    let f = fixture().await;
    create(&f, "dev1").await;
    let id = device("dev1");
    f.hub
        .save_session(
            &f.name,
            &id,
            &[Subscription::CloudToDevice, Subscription::MethodRequests],
        )
        .await
        .unwrap();
    let resumed = f
        .hub
        .resume_session(&f.name, &id, false, Some(Duration::from_secs(1)))
        .await
        .unwrap();
    assert!(resumed.session_present);
    assert_eq!(
        resumed.subscriptions,
        vec![Subscription::CloudToDevice, Subscription::MethodRequests]
    );
    let clean = f
        .hub
        .resume_session(&f.name, &id, true, Some(Duration::from_secs(1)))
        .await
        .unwrap();
    assert!(!clean.session_present);
    f.hub
        .delete_identity(&f.name, &id, Precondition::Any)
        .await
        .unwrap();
    let after_delete = f
        .hub
        .resume_session(&f.name, &id, false, Some(Duration::from_secs(1)))
        .await
        .unwrap();
    assert!(
        !after_delete.session_present,
        "a deleted device's session is gone (hostile case D9)"
    );
}

#[tokio::test]
async fn a_service_request_is_for_the_hub_its_host_names_else_for_the_hub_its_token_names() {
    use ferrohub_core::service_auth::ServiceAuthError;
    let f = fixture().await;
    let b = HubName::new("b").unwrap();
    f.hub.create_hub(&b, "B.test").await.unwrap();
    let owner_token = |hub: &HubName, resource: &str| {
        let key = f.hub.directory().policy(hub, "iothubowner").unwrap();
        let expiry = u64::try_from(f.clock.now_unix() + 60).unwrap();
        ferrohub_protocol::sas::sign(resource, &key.primary_key, expiry, Some("iothubowner"))
            .unwrap()
    };
    let token_b = owner_token(&b, "b.test");
    let token_main = owner_token(&f.name, "hub.test");

    let for_b = f
        .hub
        .authenticate_service(Some(&token_b), Some("b.test:443"));
    assert_eq!(for_b.unwrap().hub, b);
    let err = f
        .hub
        .authenticate_service(Some(&token_main), Some("B.TEST"))
        .unwrap_err();
    assert!(
        matches!(&err, ServiceAuthError::OtherHub { token_hub, addressed_hub, .. }
            if *token_hub == f.name && *addressed_hub == b),
        "{err:?}"
    );
    assert!(err.to_string().contains("for another hub"), "{err}");
    for host in [
        None,
        Some("127.0.0.1:8443"),
        Some("localhost"),
        Some("nowhere.test"),
    ] {
        let principal = f.hub.authenticate_service(Some(&token_b), host).unwrap();
        assert_eq!(principal.hub, b, "{host:?}");
    }
}
