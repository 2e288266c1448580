//! Hostile group C11 and X.509 (self-signed, thumbprint) device authentication.

use ferrohub_mqtt::ConnectReturnCode;
use hyper::Method;
use serde_json::json;

use crate::certs::{
    Issued, Spec, Version, code, connect_packet, self_signed, sha1_hex, tls_with_chain,
};
use crate::support::{HOST, Next, RawClient, TestServer};

fn certificate(cn: &str, days: (i64, i64), ca: bool) -> Issued {
    self_signed(Spec { cn, days, ca })
}

pub async fn register_self_signed(s: &TestServer, id: &str, thumbprint: &str) {
    s.api()
        .call_ok(
            Method::PUT,
            &format!("/devices/{id}"),
            Some(json!({"authentication": {"type": "selfSigned", "x509Thumbprint": {"primaryThumbprint": thumbprint, "secondaryThumbprint": null}}})),
        )
        .await
        .unwrap();
}

/// Connects presenting `cert` alone and sends CONNECT (with `password`, if any).
pub async fn connect_with_cert(
    s: &TestServer,
    cert: &Issued,
    client_id: &str,
    password: Option<String>,
) -> (RawClient, Next) {
    let mut raw = tls_with_chain(
        s,
        vec![cert.der.clone()],
        cert.private_key(),
        Version::Tls13,
    )
    .await
    .unwrap();
    raw.send(&connect_packet(client_id, HOST, password)).await;
    let answer = raw.next().await;
    (raw, answer)
}

pub async fn a_self_signed_device_connects_with_the_registered_thumbprint(s: &TestServer) {
    let cert = certificate("x509dev", (-1, 30), false);
    // Thumbprints compare case-insensitively.
    let thumb = sha1_hex(&cert.der).to_uppercase();
    register_self_signed(s, "x509dev", &thumb).await;
    let (mut raw, answer) = connect_with_cert(s, &cert, "x509dev", None).await;
    assert_eq!(code(&answer), ConnectReturnCode::Accepted);
    raw.publish_acked("devices/x509dev/messages/events/", 1, &b"cert"[..])
        .await;
    let e = &s.events("x509dev", 1).await[0];
    assert!(
        e["systemProperties"]["iothub-connection-auth-method"]
            .as_str()
            .unwrap()
            .contains("x509Certificate")
    );
}

pub async fn wrong_or_expired_certificates_are_refused_with_connack_5(s: &TestServer) {
    let good = certificate("dev", (-1, 30), false);
    let other = certificate("dev", (-1, 30), false);
    let expired = certificate("dev", (-30, -1), false);
    let not_yet = certificate("dev", (2, 30), false);
    for (name, cert) in [
        ("wrong thumbprint", &other),
        ("expired", &expired),
        ("not-yet-valid", &not_yet),
    ] {
        // Register the presented certificate's own thumbprint, except for the wrong one.
        let registered = if name == "wrong thumbprint" {
            sha1_hex(&good.der)
        } else {
            sha1_hex(&cert.der)
        };
        let id = format!("dev-{}", name.split(' ').next().unwrap().replace(':', ""));
        register_self_signed(s, &id, &registered).await;
        let (mut raw, answer) = connect_with_cert(s, cert, &id, None).await;
        assert_eq!(code(&answer), ConnectReturnCode::NotAuthorized, "{name}");
        assert_eq!(
            raw.next_within(std::time::Duration::from_secs(1)).await,
            Next::Closed,
            "{name}: the refusal is followed by a close"
        );
    }
}

pub async fn sas_and_certificate_credentials_cannot_stand_in_for_each_other(s: &TestServer) {
    let cert = certificate("mixed", (-1, 30), false);
    // A SAS device that presents only a certificate has no credentials.
    let key = s.create_device("sasdev").await;
    let (_raw, answer) = connect_with_cert(s, &cert, "sasdev", None).await;
    assert_eq!(code(&answer), ConnectReturnCode::BadUserNameOrPassword);
    // A certificate device cannot sign a SAS token: it has no key.
    register_self_signed(s, "certdev", &sha1_hex(&cert.der)).await;
    let token = crate::support::device_token("certdev", &key, 60);
    let (_raw, answer) = connect_with_cert(s, &cert, "certdev", Some(token)).await;
    assert_eq!(code(&answer), ConnectReturnCode::NotAuthorized);
}

pub async fn a_self_signed_certificate_marked_ca_is_accepted_by_thumbprint_as_iot_hub_does(
    s: &TestServer,
) {
    // `openssl req -x509` marks its certificates CA:TRUE; the thumbprint pins the exact one.
    let cert = certificate("openssl-style", (-1, 30), true);
    register_self_signed(s, "openssl-style", &sha1_hex(&cert.der)).await;
    let (_raw, answer) = connect_with_cert(s, &cert, "openssl-style", None).await;
    assert_eq!(code(&answer), ConnectReturnCode::Accepted);
}

/// C11: a certificate matching the secondary thumbprint connects (devices roll certificates
/// this way); one matching neither gets CONNACK 5 and then the close.
pub async fn the_secondary_thumbprint_connects_and_a_certificate_matching_neither_is_closed(
    s: &TestServer,
) {
    let old = certificate("rolling", (-1, 30), false);
    let new = certificate("rolling", (-1, 30), false);
    let stranger = certificate("rolling", (-1, 30), false);
    s.api()
        .call_ok(
            Method::PUT,
            "/devices/rolling",
            Some(
                json!({"authentication": {"type": "selfSigned", "x509Thumbprint": {
                "primaryThumbprint": sha1_hex(&old.der),
                "secondaryThumbprint": sha1_hex(&new.der)}}}),
            ),
        )
        .await
        .unwrap();
    for cert in [&old, &new] {
        let (_raw, answer) = connect_with_cert(s, cert, "rolling", None).await;
        assert_eq!(code(&answer), ConnectReturnCode::Accepted);
    }
    let (mut raw, answer) = connect_with_cert(s, &stranger, "rolling", None).await;
    assert_eq!(code(&answer), ConnectReturnCode::NotAuthorized);
    assert_eq!(
        raw.next_within(std::time::Duration::from_secs(1)).await,
        Next::Closed,
        "the refusal is followed by a close"
    );
}

standalone!(
    a_self_signed_device_connects_with_the_registered_thumbprint,
    wrong_or_expired_certificates_are_refused_with_connack_5,
    sas_and_certificate_credentials_cannot_stand_in_for_each_other,
    a_self_signed_certificate_marked_ca_is_accepted_by_thumbprint_as_iot_hub_does,
    the_secondary_thumbprint_connects_and_a_certificate_matching_neither_is_closed,
);
