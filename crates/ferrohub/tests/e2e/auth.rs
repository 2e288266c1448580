//! Hostile group C: authentication. Each refusal gets the CONNACK code the SDKs map to an
//! unauthorized (4/5) or disabled (3) error, then a close.

use std::time::Duration;

use ferrohub_mqtt::{ConnectReturnCode, Packet};
use hyper::Method;
use serde_json::json;

use crate::support::{HOST, Next, TestServer, connect_packet, device_token, unix_now};

pub async fn connack(
    s: &TestServer,
    client_id: &str,
    password: Option<String>,
) -> ConnectReturnCode {
    let mut raw = s.raw().await;
    raw.send(&connect_packet(client_id, password)).await;
    let code = match raw.next().await {
        Next::Packet(Packet::ConnAck(a)) => a.code,
        other => panic!("expected a CONNACK, got {other:?}"),
    };
    if code != ConnectReturnCode::Accepted {
        assert_eq!(
            raw.next_within(Duration::from_secs(1)).await,
            Next::Closed,
            "a refusal is followed by a close"
        );
    }
    code
}

pub async fn tokens_that_are_expired_forged_or_for_someone_else_are_refused(s: &TestServer) {
    let key = s.create_device("dev1").await;
    let key10 = s.create_device("dev10").await;
    assert_eq!(
        connack(s, "dev1", Some(device_token("dev1", &key, 3600))).await,
        ConnectReturnCode::Accepted
    );
    assert_eq!(
        connack(s, "dev1", Some(device_token("dev1", &key, -1))).await,
        ConnectReturnCode::NotAuthorized,
        "expired"
    );
    assert_eq!(
        connack(s, "dev1", Some(device_token("dev1", &key, 2))).await,
        ConnectReturnCode::Accepted,
        "expiring in two seconds (the server allows no clock skew)"
    );
    assert_eq!(
        connack(s, "dev1", Some(device_token("dev1", &key10, 3600))).await,
        ConnectReturnCode::NotAuthorized,
        "another device's key"
    );
    assert_eq!(
        connack(s, "dev10", Some(device_token("dev1", &key10, 3600))).await,
        ConnectReturnCode::NotAuthorized,
        "dev1's sr for dev10"
    );
    let other_hub =
        ferrohub_protocol::sas::sign("elsewhere/devices/dev1", &key, unix_now() + 60, None)
            .unwrap();
    assert_eq!(
        connack(s, "dev1", Some(other_hub)).await,
        ConnectReturnCode::NotAuthorized,
        "another hub's sr"
    );
    let upper =
        ferrohub_protocol::sas::sign(&format!("{HOST}/devices/DEV1"), &key, unix_now() + 60, None)
            .unwrap();
    assert_eq!(
        connack(s, "dev1", Some(upper)).await,
        ConnectReturnCode::NotAuthorized,
        "changed case"
    );
    let trailing = ferrohub_protocol::sas::sign(
        &format!("{HOST}/devices/dev1/"),
        &key,
        unix_now() + 60,
        None,
    )
    .unwrap();
    assert_eq!(
        connack(s, "dev1", Some(trailing)).await,
        ConnectReturnCode::NotAuthorized,
        "trailing slash"
    );
}

pub async fn malformed_or_missing_passwords_are_refused_without_a_crash(s: &TestServer) {
    s.create_device("dev1").await;
    assert_eq!(
        connack(s, "dev1", None).await,
        ConnectReturnCode::BadUserNameOrPassword
    );
    assert_eq!(
        connack(s, "dev1", Some("not a token".into())).await,
        ConnectReturnCode::BadUserNameOrPassword
    );
    assert_eq!(
        connack(
            s,
            "dev1",
            Some("SharedAccessSignature sr=a&sr=b&sig=YQ==&se=1".into())
        )
        .await,
        ConnectReturnCode::BadUserNameOrPassword,
        "duplicate field"
    );
    assert_eq!(
        connack(
            s,
            "dev1",
            Some(format!(
                "SharedAccessSignature sr={}&sig=YQ==&se=1",
                "a".repeat(65_000)
            ))
        )
        .await,
        ConnectReturnCode::BadUserNameOrPassword,
        "64 KB password"
    );
    assert_eq!(
        connack(
            s,
            "dev1",
            Some("SharedAccessSignature sr=localhost%2Fdevices%2Fdev1&sig=YQ==&se=-5".into())
        )
        .await,
        ConnectReturnCode::BadUserNameOrPassword,
        "negative se"
    );
    assert_eq!(
        connack(
            s,
            "dev1",
            Some("SharedAccessSignature sr=localhost%2Fdevices%2Fdev1&sig=YQ==&se=99999999999999999999999".into())
        )
        .await,
        ConnectReturnCode::BadUserNameOrPassword,
        "se above u64"
    );
}

pub async fn policy_tokens_need_the_device_connect_right(s: &TestServer) {
    s.create_device("dev1").await;
    let device_policy = s.policy("device");
    let service_policy = s.policy("service");
    let resource = format!("{HOST}/devices/dev1");
    let good = ferrohub_protocol::sas::sign(
        &resource,
        &device_policy.key,
        unix_now() + 60,
        Some("device"),
    )
    .unwrap();
    assert_eq!(
        connack(s, "dev1", Some(good)).await,
        ConnectReturnCode::Accepted
    );
    let hub_wide =
        ferrohub_protocol::sas::sign(HOST, &device_policy.key, unix_now() + 60, Some("device"))
            .unwrap();
    assert_eq!(
        connack(s, "dev1", Some(hub_wide)).await,
        ConnectReturnCode::Accepted,
        "a hub-scoped sr covers every device"
    );
    let no_right = ferrohub_protocol::sas::sign(
        &resource,
        &service_policy.key,
        unix_now() + 60,
        Some("service"),
    )
    .unwrap();
    assert_eq!(
        connack(s, "dev1", Some(no_right)).await,
        ConnectReturnCode::NotAuthorized
    );
    let unknown =
        ferrohub_protocol::sas::sign(&resource, &device_policy.key, unix_now() + 60, Some("nope"))
            .unwrap();
    assert_eq!(
        connack(s, "dev1", Some(unknown)).await,
        ConnectReturnCode::NotAuthorized
    );
    let policy_key_without_skn =
        ferrohub_protocol::sas::sign(&resource, &device_policy.key, unix_now() + 60, None).unwrap();
    assert_eq!(
        connack(s, "dev1", Some(policy_key_without_skn)).await,
        ConnectReturnCode::NotAuthorized
    );
}

/// C2, C4 and C12: a token that is valid, but for another identity or signed the wrong way.
pub async fn valid_tokens_of_other_identities_and_device_keys_with_skn_are_refused(s: &TestServer) {
    let key = s.create_device("dev1").await;
    let key10 = s.create_device("dev10").await;
    let m1 = s.create_module("dev1", "m1").await;
    s.create_module("dev1", "m2").await;
    assert_eq!(
        connack(s, "dev1", Some(device_token("dev10", &key10, 3600))).await,
        ConnectReturnCode::NotAuthorized,
        "dev10's own valid token presented as dev1"
    );
    let resource = format!("{HOST}/devices/dev1");
    let device_key_with_skn =
        ferrohub_protocol::sas::sign(&resource, &key, unix_now() + 60, Some("device")).unwrap();
    assert_eq!(
        connack(s, "dev1", Some(device_key_with_skn)).await,
        ConnectReturnCode::NotAuthorized,
        "a device key signed as if it were the `device` policy's"
    );
    assert_eq!(
        connack(s, "dev1/m1", Some(device_token("dev1", &key, 3600))).await,
        ConnectReturnCode::NotAuthorized,
        "the device's token used for its module"
    );
    let m1_token = |module: &str| {
        ferrohub_protocol::sas::sign(
            &format!("{HOST}/devices/dev1/modules/{module}"),
            &m1,
            unix_now() + 60,
            None,
        )
        .unwrap()
    };
    assert_eq!(
        connack(s, "dev1/m2", Some(m1_token("m1"))).await,
        ConnectReturnCode::NotAuthorized,
        "m1's token used for m2"
    );
    assert_eq!(
        connack(s, "dev1/m2", Some(m1_token("m2"))).await,
        ConnectReturnCode::NotAuthorized,
        "m2's resource signed with m1's key"
    );
    assert_eq!(
        connack(s, "dev1/m1", Some(m1_token("m1"))).await,
        ConnectReturnCode::Accepted,
        "m1's own token still works"
    );
}

/// A token whose `sr` is sent raw (not URL-encoded), as the Node SDK sends some, signed over
/// that raw text.
fn raw_sr_token(resource: &str, base64_key: &str, expiry: u64) -> String {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &engine.decode(base64_key).unwrap());
    let tag = ring::hmac::sign(&key, format!("{resource}\n{expiry}").as_bytes());
    let sig = ferrohub_protocol::sas::encode_component(&engine.encode(tag.as_ref()));
    format!("SharedAccessSignature sr={resource}&sig={sig}&se={expiry}")
}

/// C3 in the raw form: the resource is checked as transmitted, encoded or not.
pub async fn raw_resource_tokens_are_verified_as_sent_and_refused_for_other_resources(
    s: &TestServer,
) {
    let key = s.create_device("dev1").await;
    s.create_device("dev10").await;
    let expiry = unix_now() + 60;
    assert_eq!(
        connack(
            s,
            "dev1",
            Some(raw_sr_token(&format!("{HOST}/devices/dev1"), &key, expiry))
        )
        .await,
        ConnectReturnCode::Accepted,
        "the raw form of the right resource"
    );
    for (name, client_id, resource) in [
        (
            "dev1's sr for dev10",
            "dev10",
            format!("{HOST}/devices/dev1"),
        ),
        ("changed case", "dev1", format!("{HOST}/devices/DEV1")),
        ("trailing slash", "dev1", format!("{HOST}/devices/dev1/")),
        ("another hub", "dev1", "elsewhere/devices/dev1".to_owned()),
    ] {
        assert_eq!(
            connack(s, client_id, Some(raw_sr_token(&resource, &key, expiry))).await,
            ConnectReturnCode::NotAuthorized,
            "{name}"
        );
    }
}

pub async fn the_secondary_key_is_accepted(s: &TestServer) {
    let d = s
        .api()
        .call_ok(Method::PUT, "/devices/dev1", Some(json!({})))
        .await
        .unwrap()
        .json()
        .unwrap();
    let secondary = d["authentication"]["symmetricKey"]["secondaryKey"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        connack(s, "dev1", Some(device_token("dev1", &secondary, 60))).await,
        ConnectReturnCode::Accepted
    );
}

pub async fn disabled_devices_get_connack_3_and_disabling_drops_a_live_connection(s: &TestServer) {
    let key = s.create_device("dev1").await;
    let mut live = s.raw().await;
    live.connect_as("dev1", &key).await;
    s.api()
        .send_with_headers(
            Method::PUT,
            "/devices/dev1",
            Some(json!({"status": "disabled"})),
            &[("if-match", "*".into())],
        )
        .await
        .unwrap();
    assert_eq!(
        live.next_within(Duration::from_secs(1)).await,
        Next::Closed,
        "dropped within 1 s"
    );
    assert_eq!(
        connack(s, "dev1", Some(device_token("dev1", &key, 60))).await,
        ConnectReturnCode::ServerUnavailable
    );
}

pub async fn deleted_devices_are_dropped_and_then_refused(s: &TestServer) {
    let key = s.create_device("dev1").await;
    let mut live = s.raw().await;
    live.connect_as("dev1", &key).await;
    s.api()
        .call_ok(Method::DELETE, "/devices/dev1", None)
        .await
        .unwrap();
    assert_eq!(live.next_within(Duration::from_secs(1)).await, Next::Closed);
    assert_eq!(
        connack(s, "dev1", Some(device_token("dev1", &key, 60))).await,
        ConnectReturnCode::NotAuthorized
    );
}

pub async fn regenerating_keys_closes_sessions_and_refuses_the_old_key(s: &TestServer) {
    let key = s.create_device("dev1").await;
    let mut live = s.raw().await;
    live.connect_as("dev1", &key).await;
    s.api()
        .send_with_headers(
            Method::PUT,
            "/devices/dev1",
            Some(json!({"authentication": {"symmetricKey": {
                "primaryKey": "bmV3LXByaW1hcnkta2V5LTAxMjM0NTY3ODkwMTIzNDU=",
                "secondaryKey": "bmV3LXNlY29uZGFyeS1rZXktMDEyMzQ1Njc4OTAxMjM="
            }}})),
            &[("if-match", "\"*\"".into())],
        )
        .await
        .unwrap();
    assert_eq!(live.next_within(Duration::from_secs(1)).await, Next::Closed);
    assert_eq!(
        connack(s, "dev1", Some(device_token("dev1", &key, 60))).await,
        ConnectReturnCode::NotAuthorized
    );
}

pub async fn the_connection_closes_when_its_token_expires(s: &TestServer) {
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    let expiry = unix_now() + 2;
    let token =
        ferrohub_protocol::sas::sign(&format!("{HOST}/devices/dev1"), &key, expiry, None).unwrap();
    raw.send(&connect_packet("dev1", Some(token))).await;
    assert!(
        matches!(raw.next().await, Next::Packet(Packet::ConnAck(a)) if a.code == ConnectReturnCode::Accepted)
    );
    // Closed at expiry (within 2 s of it), well before keep-alive (60 s) could.
    assert_eq!(raw.next_within(Duration::from_secs(4)).await, Next::Closed);
    let now = unix_now();
    assert!(
        now >= expiry,
        "not closed before the token expired ({now} < {expiry})"
    );
    assert!(
        now <= expiry + 2,
        "closed within 2 s of expiry ({now} > {expiry} + 2)"
    );
}

pub async fn a_newer_connection_takes_over_the_identity(s: &TestServer) {
    let key = s.create_device("dev1").await;
    let connected_before = s.connected_devices().await;
    let mut first = s.raw().await;
    first.connect_as("dev1", &key).await;
    let mut second = s.raw().await;
    second.connect_as("dev1", &key).await;
    assert_eq!(
        first.next_within(Duration::from_secs(1)).await,
        Next::Closed
    );
    second.send(&Packet::PingReq).await;
    assert_eq!(second.next().await, Next::Packet(Packet::PingResp));
    assert_eq!(s.connected_devices().await, connected_before + 1);
}

pub async fn racing_connects_for_one_identity_leave_exactly_one_connected(s: &TestServer) {
    let key = s.create_device("dev1").await;
    let mut clients = Vec::new();
    for _ in 0..10 {
        clients.push(s.raw().await);
    }
    let token = device_token("dev1", &key, 3600);
    let mut tasks = Vec::new();
    for mut c in clients {
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            c.send(&connect_packet("dev1", Some(token))).await;
            assert!(matches!(c.next().await, Next::Packet(Packet::ConnAck(_))));
            c
        }));
    }
    // Every CONNECT must be answered before probing, or an early one may still hold the
    // identity when probed and be taken over only afterwards.
    let mut connected = Vec::new();
    for t in tasks {
        connected.push(t.await.unwrap());
    }
    let mut survivors = 0;
    for mut c in connected {
        c.send(&Packet::PingReq).await;
        if c.next_within(Duration::from_secs(2)).await == Next::Packet(Packet::PingResp) {
            survivors += 1;
        }
    }
    assert_eq!(survivors, 1);
}

/// One CONNECT with a wrong key from `from` (the kernel's choice, 127.0.0.1, with None);
/// true when the server closed the connection before the TLS handshake (the address is
/// throttled).
async fn bad_connect(
    from: Option<std::net::IpAddr>,
    addr: std::net::SocketAddr,
    ca: std::path::PathBuf,
) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(tcp) = crate::support::connect_from(from, addr).await else {
        return false;
    };
    let connector = tokio_rustls::TlsConnector::from(ferrohub::client::tls_config(&ca).unwrap());
    let Ok(mut tls) = connector
        .connect(rustls_pki_types::ServerName::try_from(HOST).unwrap(), tcp)
        .await
    else {
        return true;
    };
    let mut bytes = bytes::BytesMut::new();
    ferrohub_mqtt::encode(
        &connect_packet(
            "dev1",
            Some(device_token(
                "dev1",
                "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZw==",
                60,
            )),
        ),
        &mut bytes,
    )
    .unwrap();
    let _ = tls.write_all(&bytes).await;
    let mut buf = [0u8; 16];
    let _ = tls.read(&mut buf).await;
    false
}
/// C14: bad CONNECTs from one address at 1,000 a second for 2 s, paced by the clock: the
/// address is refused before TLS once it exceeds the policy's 20 failures a second, and a
/// device on another address (127.0.0.2 is loopback too), connected before the flood, gets
/// every PUBACK throughout.
pub async fn a_flood_of_bad_connects_from_one_address_is_throttled_and_others_still_connect(
    s: &TestServer,
) {
    const ATTEMPTS: usize = 2_000;
    let key = s.create_device("dev1").await;
    let mut canary = s.raw_from(Some([127, 0, 0, 2].into())).await;
    canary.connect_as("dev1", &key).await;
    let (source, addr, ca) = (s.source(), s.mqtt_addr, s.ca());
    let flood = tokio::spawn(async move {
        // An interval catches up on missed ticks, so the rate stays 1,000 a second even
        // when the machine is busy.
        let mut pace = tokio::time::interval(Duration::from_millis(1));
        let mut attempts = Vec::with_capacity(ATTEMPTS);
        for _ in 0..ATTEMPTS {
            pace.tick().await;
            attempts.push(tokio::spawn(bad_connect(source, addr, ca.clone())));
        }
        let mut refused_before_tls = Vec::with_capacity(ATTEMPTS);
        for attempt in attempts {
            refused_before_tls.push(attempt.await.unwrap());
        }
        refused_before_tls
    });
    let mut latencies = Vec::new();
    let mut packet_id: u16 = 0;
    while !flood.is_finished() {
        packet_id += 1;
        let sent = tokio::time::Instant::now();
        // Served during the flood: its PUBACK comes.
        canary
            .publish_acked("devices/dev1/messages/events/", packet_id, &b"canary"[..])
            .await;
        latencies.push(sent.elapsed());
    }
    let refused_before_tls = flood.await.unwrap();
    let handshaken = refused_before_tls.iter().filter(|r| !**r).count();
    latencies.sort_unstable();
    eprintln!(
        "C14: {handshaken} of {ATTEMPTS} attempts got a TLS handshake; the canary's {} PUBACKs: median {:?}, max {:?}",
        latencies.len(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    // The first 20 failures of a second are answered (CONNACK 4 after TLS); a few more may
    // be mid-handshake when the block starts. Everything after is refused before TLS.
    assert!(
        handshaken < 100,
        "{handshaken} of {ATTEMPTS} attempts got a TLS handshake"
    );
    assert!(
        refused_before_tls[ATTEMPTS / 2..].iter().all(|r| *r),
        "the second second of the flood is refused before TLS"
    );
    // A new connection from the other address is unaffected too.
    let mut second = s.raw_from(Some([127, 0, 0, 2].into())).await;
    second.connect_as("dev1", &key).await;
}

standalone!(
    tokens_that_are_expired_forged_or_for_someone_else_are_refused,
    malformed_or_missing_passwords_are_refused_without_a_crash,
    policy_tokens_need_the_device_connect_right,
    valid_tokens_of_other_identities_and_device_keys_with_skn_are_refused,
    raw_resource_tokens_are_verified_as_sent_and_refused_for_other_resources,
    the_secondary_key_is_accepted,
    disabled_devices_get_connack_3_and_disabling_drops_a_live_connection,
    deleted_devices_are_dropped_and_then_refused,
    regenerating_keys_closes_sessions_and_refuses_the_old_key,
    the_connection_closes_when_its_token_expires,
    a_newer_connection_takes_over_the_identity,
    racing_connects_for_one_identity_leave_exactly_one_connected,
    a_flood_of_bad_connects_from_one_address_is_throttled_and_others_still_connect,
);
