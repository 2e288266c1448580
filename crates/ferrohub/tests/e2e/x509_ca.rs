//! Hostile group C11 for CA-signed X.509 devices (`certificateAuthority`), the CA
//! certificates resource with its proof of possession, and `disableDeviceSAS`.
//!
//! Real TLS against a real server: chains the server cannot trust end the handshake with an
//! `unknown_ca` alert; trusted chains with something wrong in the leaf get CONNACK 5.

use ferrohub::client::{ApiClient, collect};
use ferrohub_mqtt::ConnectReturnCode;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use crate::certs::{
    Issued, Spec, assert_handshake_refused, code, connack_with_chain, connect_with_chain,
    issued_by, self_signed, sha1_hex,
};
use crate::support::{HOST, TestServer, get_json, get_status};

/// Uploads `ca` as `name`; returns the certificate description.
async fn upload(api: &ApiClient, name: &str, ca: &Issued, verified: bool) -> Value {
    let r = api
        .call(
            Method::PUT,
            &format!("/ferrohub/certificates/{name}"),
            Some(json!({"properties": {"certificate": ca.pem(), "isVerified": verified}})),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.error_line());
    r.json().unwrap()
}

/// A POST with `If-Match`, collected.
async fn post_if_match(
    api: &ApiClient,
    path: &str,
    body: Option<Value>,
    etag: &str,
) -> ferrohub::client::ApiResponse {
    let response = api
        .send_with_headers(
            Method::POST,
            path,
            body,
            &[("if-match", format!("\"{etag}\""))],
        )
        .await
        .unwrap();
    collect(response).await.unwrap()
}

/// IoT Hub's proof of possession, as a user does it: get a code, sign a certificate with
/// CN=code with the CA's key, send it back.
async fn prove_possession(api: &ApiClient, name: &str, ca: &Issued) -> Value {
    let described = get_json(api, &format!("/ferrohub/certificates/{name}")).await;
    let coded = post_if_match(
        api,
        &format!("/ferrohub/certificates/{name}/generateVerificationCode"),
        None,
        described["etag"].as_str().unwrap(),
    )
    .await;
    assert_eq!(coded.status, StatusCode::OK, "{}", coded.error_line());
    let coded = coded.json().unwrap();
    let verification_code = coded["properties"]["verificationCode"].as_str().unwrap();
    let proof = issued_by(Spec::device(verification_code), ca);
    let verified = post_if_match(
        api,
        &format!("/ferrohub/certificates/{name}/verify"),
        Some(json!({"certificate": proof.pem()})),
        coded["etag"].as_str().unwrap(),
    )
    .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.error_line());
    verified.json().unwrap()
}

pub(crate) async fn register_ca_device(api: &ApiClient, id: &str) {
    api.call_ok(
        Method::PUT,
        &format!("/devices/{id}"),
        Some(json!({"authentication": {"type": "certificateAuthority"}})),
    )
    .await
    .unwrap();
}

/// A root CA uploaded and verified as `name` in the hub `api` speaks for.
pub(crate) async fn verified_root(api: &ApiClient, name: &str) -> Issued {
    let root = self_signed(Spec::ca(&format!("{name} root")));
    upload(api, name, &root, false).await;
    prove_possession(api, name, &root).await;
    root
}

pub async fn an_untrusted_chain_fails_the_tls_handshake(s: &TestServer) {
    register_ca_device(&s.api(), "dev1").await;
    // A verified CA exists, but the device's CA is another one.
    verified_root(&s.api(), "trusted").await;
    let stranger = self_signed(Spec::ca("stranger root"));
    let leaf = issued_by(Spec::device("dev1"), &stranger);
    assert_handshake_refused(s, &[&leaf, &stranger], "a chain to an unknown root").await;
}

pub async fn a_missing_intermediate_fails_the_tls_handshake_and_the_full_chain_connects(
    s: &TestServer,
) {
    register_ca_device(&s.api(), "dev1").await;
    let root = verified_root(&s.api(), "root").await;
    let intermediate = issued_by(Spec::ca("intermediate"), &root);
    let leaf = issued_by(Spec::device("dev1"), &intermediate);
    assert_handshake_refused(s, &[&leaf], "the intermediate was not sent").await;
    assert_eq!(
        connack_with_chain(s, &[&leaf, &intermediate], "dev1", HOST).await,
        ConnectReturnCode::Accepted
    );
}

pub async fn a_ca_without_completed_proof_of_possession_is_not_trusted(s: &TestServer) {
    let api = s.api();
    register_ca_device(&api, "dev1").await;
    let root = self_signed(Spec::ca("unproven root"));
    let uploaded = upload(&api, "unproven", &root, false).await;
    assert_eq!(uploaded["properties"]["isVerified"], false);
    let leaf = issued_by(Spec::device("dev1"), &root);
    assert_handshake_refused(s, &[&leaf], "the CA is uploaded but not verified").await;
    // A code alone proves nothing.
    let coded = post_if_match(
        &api,
        "/ferrohub/certificates/unproven/generateVerificationCode",
        None,
        uploaded["etag"].as_str().unwrap(),
    )
    .await;
    assert_eq!(coded.status, StatusCode::OK);
    assert_handshake_refused(s, &[&leaf], "a code was generated, nothing verified").await;
}

pub async fn after_proof_of_possession_a_ca_signed_device_connects_and_its_telemetry_says_x509(
    s: &TestServer,
) {
    let api = s.api();
    register_ca_device(&api, "proven-dev").await;
    let root = self_signed(Spec::ca("proven root"));
    let uploaded = upload(&api, "proven", &root, false).await;
    assert_eq!(
        uploaded["properties"]["thumbprint"],
        sha1_hex(&root.der).to_uppercase(),
        "the thumbprint is IoT Hub's: SHA-1, uppercase hex"
    );
    assert_eq!(uploaded["properties"]["subject"], "CN=proven root");
    let verified = prove_possession(&api, "proven", &root).await;
    assert_eq!(verified["properties"]["isVerified"], true);
    assert!(verified["properties"].get("verificationCode").is_none());
    let listed = get_json(&api, "/ferrohub/certificates").await;
    assert_eq!(listed["value"][0]["name"], "proven");
    assert_eq!(listed["value"][0]["properties"]["isVerified"], true);

    let leaf = issued_by(Spec::device("proven-dev"), &root);
    let (mut raw, answer) = connect_with_chain(s, &[&leaf], "proven-dev", HOST).await;
    assert_eq!(code(&answer), ConnectReturnCode::Accepted);
    raw.publish_acked("devices/proven-dev/messages/events/", 1, &b"ca"[..])
        .await;
    let event = &s.events("proven-dev", 1).await[0];
    assert_eq!(
        event["systemProperties"]["iothub-connection-auth-method"],
        r#"{"scope":"device","type":"x509Certificate","issuer":"external","acceptingIpFilterRule":null}"#
    );
    assert_eq!(
        event["systemProperties"]["iothub-connection-device-id"],
        "proven-dev"
    );
}

pub async fn a_wrong_verification_certificate_is_400_and_the_ca_stays_unverified(s: &TestServer) {
    let api = s.api();
    let root = self_signed(Spec::ca("root"));
    upload(&api, "root", &root, false).await;
    let verify = |proof: &Issued| {
        let body = json!({"certificate": proof.pem()});
        let api = &api;
        async move {
            api.call(
                Method::POST,
                "/ferrohub/certificates/root/verify",
                Some(body),
            )
            .await
            .unwrap()
        }
    };
    let before_any_code = verify(&issued_by(Spec::device("anything"), &root)).await;
    assert_eq!(before_any_code.status, StatusCode::BAD_REQUEST);

    let coded = api
        .call_ok(
            Method::POST,
            "/ferrohub/certificates/root/generateVerificationCode",
            None,
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    let verification_code = coded["properties"]["verificationCode"].as_str().unwrap();
    assert_eq!(verification_code.len(), 40);
    let wrong_cn = issued_by(Spec::device("not-the-code"), &root);
    let other_signer = issued_by(
        Spec::device(verification_code),
        &self_signed(Spec::ca("root")),
    );
    let self_made = self_signed(Spec::device(verification_code));
    for (what, proof) in [
        ("a CN other than the code", &wrong_cn),
        ("signed by another key with the same name", &other_signer),
        ("self-signed", &self_made),
    ] {
        let r = verify(proof).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}");
        assert!(
            r.error_line().contains("proof of possession"),
            "{what}: {}",
            r.error_line()
        );
    }
    let garbage = api
        .call(
            Method::POST,
            "/ferrohub/certificates/root/verify",
            Some(json!({"certificate": "not a certificate"})),
        )
        .await
        .unwrap();
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);

    let shown = get_json(&api, "/ferrohub/certificates/root").await;
    assert_eq!(shown["properties"]["isVerified"], false);
    assert_eq!(
        shown["properties"]["verificationCode"], verification_code,
        "failed attempts leave the code in place"
    );
    register_ca_device(&api, "dev1").await;
    let leaf = issued_by(Spec::device("dev1"), &root);
    assert_handshake_refused(s, &[&leaf], "the proofs failed").await;
}

pub async fn expired_and_not_yet_valid_leaves_under_a_verified_ca_get_connack_5(s: &TestServer) {
    let root = verified_root(&s.api(), "root").await;
    register_ca_device(&s.api(), "dev1").await;
    for (what, days) in [("expired", (-30, -1)), ("not yet valid", (2, 30))] {
        let leaf = issued_by(
            Spec {
                cn: "dev1",
                days,
                ca: false,
            },
            &root,
        );
        assert_eq!(
            connack_with_chain(s, &[&leaf], "dev1", HOST).await,
            ConnectReturnCode::NotAuthorized,
            "{what}"
        );
    }
}

pub async fn a_leaf_marked_ca_under_a_verified_ca_gets_connack_5(s: &TestServer) {
    let root = verified_root(&s.api(), "root").await;
    register_ca_device(&s.api(), "dev1").await;
    let ca_leaf = issued_by(Spec::ca("dev1"), &root);
    assert_eq!(
        connack_with_chain(s, &[&ca_leaf], "dev1", HOST).await,
        ConnectReturnCode::NotAuthorized
    );
    // The same certificate registered by thumbprint is accepted: the thumbprint pins it.
    crate::x509::register_self_signed(s, "pinned", &sha1_hex(&ca_leaf.der)).await;
    assert_eq!(
        connack_with_chain(s, &[&ca_leaf], "pinned", HOST).await,
        ConnectReturnCode::Accepted
    );
}

pub async fn a_common_name_other_than_the_identity_gets_connack_5(s: &TestServer) {
    let api = s.api();
    let root = verified_root(&api, "root").await;
    register_ca_device(&api, "dev1").await;
    let other = issued_by(Spec::device("dev2"), &root);
    assert_eq!(
        connack_with_chain(s, &[&other], "dev1", HOST).await,
        ConnectReturnCode::NotAuthorized
    );

    // A module's certificate names it `deviceId/moduleId`, as IoT Hub expects.
    api.call_ok(
        Method::PUT,
        "/devices/dev1/modules/mod1",
        Some(json!({"authentication": {"type": "certificateAuthority"}})),
    )
    .await
    .unwrap();
    let module_leaf = issued_by(Spec::device("dev1/mod1"), &root);
    assert_eq!(
        connack_with_chain(s, &[&module_leaf], "dev1/mod1", HOST).await,
        ConnectReturnCode::Accepted
    );
    let bare_module_name = issued_by(Spec::device("mod1"), &root);
    assert_eq!(
        connack_with_chain(s, &[&bare_module_name], "dev1/mod1", HOST).await,
        ConnectReturnCode::NotAuthorized
    );
    let device_leaf = issued_by(Spec::device("dev1"), &root);
    assert_eq!(
        connack_with_chain(s, &[&device_leaf], "dev1/mod1", HOST).await,
        ConnectReturnCode::NotAuthorized
    );
}

/// A second hub, `plant2.local`, and an owner client for it.
async fn second_hub(s: &TestServer) -> ApiClient {
    s.api()
        .call_ok(
            Method::POST,
            "/ferrohub/hubs",
            Some(json!({"name": "plant2", "hostname": "plant2.local"})),
        )
        .await
        .unwrap();
    let hub = ferrohub_protocol::HubName::new("plant2").unwrap();
    let owner = s.hub().directory().policy(&hub, "iothubowner").unwrap();
    s.api_as(ferrohub::connection_string::ServiceConnectionString {
        host_name: "plant2.local".into(),
        key_name: "iothubowner".into(),
        key: owner.primary_key,
    })
}

pub async fn a_ca_verified_in_one_hub_does_not_vouch_for_another_hubs_devices(s: &TestServer) {
    let plant2 = second_hub(s).await;
    let root = verified_root(&s.api(), "default-root").await;
    register_ca_device(&plant2, "dev1").await;
    let leaf = issued_by(Spec::device("dev1"), &root);
    assert_eq!(
        connack_with_chain(s, &[&leaf], "dev1", "plant2.local").await,
        ConnectReturnCode::NotAuthorized
    );
    assert!(
        plant2
            .call_ok(Method::GET, "/ferrohub/certificates", None)
            .await
            .unwrap()
            .json()
            .unwrap()["value"]
            .as_array()
            .unwrap()
            .is_empty(),
        "certificates are per hub"
    );
    // Once plant2 verifies the same CA itself, its device connects.
    upload(&plant2, "same-root", &root, false).await;
    prove_possession(&plant2, "same-root", &root).await;
    assert_eq!(
        connack_with_chain(s, &[&leaf], "dev1", "plant2.local").await,
        ConnectReturnCode::Accepted
    );
}

pub async fn a_chain_through_cas_verified_in_two_hubs_serves_each_hubs_devices(s: &TestServer) {
    // The root is verified in the default hub, the intermediate under it in plant2: one
    // chain, two hubs, each of whose devices connects.
    let plant2 = second_hub(s).await;
    let root = verified_root(&s.api(), "root").await;
    let intermediate = issued_by(Spec::ca("plant2 intermediate"), &root);
    upload(&plant2, "intermediate", &intermediate, false).await;
    prove_possession(&plant2, "intermediate", &intermediate).await;
    register_ca_device(&s.api(), "dev-a").await;
    register_ca_device(&plant2, "dev-b").await;
    let leaf_a = issued_by(Spec::device("dev-a"), &intermediate);
    let leaf_b = issued_by(Spec::device("dev-b"), &intermediate);
    assert_eq!(
        connack_with_chain(s, &[&leaf_a, &intermediate], "dev-a", HOST).await,
        ConnectReturnCode::Accepted
    );
    assert_eq!(
        connack_with_chain(s, &[&leaf_b, &intermediate], "dev-b", "plant2.local").await,
        ConnectReturnCode::Accepted
    );
}

pub async fn deleting_the_ca_makes_new_connections_fail(s: &TestServer) {
    let api = s.api();
    let root = verified_root(&api, "root").await;
    register_ca_device(&api, "dev1").await;
    let leaf = issued_by(Spec::device("dev1"), &root);
    assert_eq!(
        connack_with_chain(s, &[&leaf], "dev1", HOST).await,
        ConnectReturnCode::Accepted
    );
    let etag = api
        .call_ok(Method::GET, "/ferrohub/certificates/root", None)
        .await
        .unwrap()
        .etag()
        .unwrap();
    let deleted = collect(
        api.send_with_headers(
            Method::DELETE,
            "/ferrohub/certificates/root",
            None,
            &[("if-match", format!("\"{etag}\""))],
        )
        .await
        .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_handshake_refused(s, &[&leaf], "the CA was deleted").await;
}

/// The IoT Hub error code in an error answer's `Message`.
fn error_code(r: &ferrohub::client::ApiResponse) -> String {
    let message = r.json().unwrap()["Message"].as_str().unwrap().to_owned();
    message
        .strip_prefix("ErrorCode:")
        .and_then(|m| m.split(';').next())
        .unwrap_or_default()
        .to_owned()
}

pub async fn certificate_operations_answer_404_412_409_400_and_401_with_iot_hub_error_bodies(
    s: &TestServer,
) {
    let api = s.api();
    for (method, path) in [
        (Method::GET, "/ferrohub/certificates/nope"),
        (Method::DELETE, "/ferrohub/certificates/nope"),
        (
            Method::POST,
            "/ferrohub/certificates/nope/generateVerificationCode",
        ),
        (Method::POST, "/ferrohub/certificates/nope/verify"),
    ] {
        let body = (method == Method::POST && path.ends_with("verify"))
            .then(|| json!({"certificate": "x"}));
        let r = api.call(method.clone(), path, body).await.unwrap();
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(error_code(&r), "CertificateNotFound", "{method} {path}");
    }

    let root = self_signed(Spec::ca("root"));
    upload(&api, "root", &root, false).await;
    let again = api
        .call(
            Method::PUT,
            "/ferrohub/certificates/root",
            Some(json!({"properties": {"certificate": root.pem()}})),
        )
        .await
        .unwrap();
    assert_eq!(
        again.status,
        StatusCode::CONFLICT,
        "a PUT without If-Match only creates"
    );
    let stale = [("if-match", "\"stale\"".to_owned())];
    for (method, path, body) in [
        (Method::DELETE, "/ferrohub/certificates/root", None),
        (
            Method::POST,
            "/ferrohub/certificates/root/generateVerificationCode",
            None,
        ),
        (
            Method::POST,
            "/ferrohub/certificates/root/verify",
            Some(json!({"certificate": root.pem()})),
        ),
        (
            Method::PUT,
            "/ferrohub/certificates/root",
            Some(json!({"properties": {"certificate": root.pem()}})),
        ),
    ] {
        let r = collect(
            api.send_with_headers(method.clone(), path, body, &stale)
                .await
                .unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{method} {path}");
        assert_eq!(error_code(&r), "PreconditionFailed", "{method} {path}");
    }
    // Replacing with the current etag works and starts the proof over.
    let etag = api
        .call_ok(Method::GET, "/ferrohub/certificates/root", None)
        .await
        .unwrap()
        .etag()
        .unwrap();
    let replaced = collect(
        api.send_with_headers(
            Method::PUT,
            "/ferrohub/certificates/root",
            Some(json!({"properties": {"certificate": root.pem(), "isVerified": true}})),
            &[("if-match", format!("\"{etag}\""))],
        )
        .await
        .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(replaced.status, StatusCode::OK);
    assert_eq!(replaced.json().unwrap()["properties"]["isVerified"], true);

    for (what, body) in [
        ("no certificate", json!({"properties": {}})),
        (
            "not a certificate",
            json!({"properties": {"certificate": "abc"}}),
        ),
        (
            "an expired certificate",
            json!({"properties": {"certificate": self_signed(Spec { cn: "old", days: (-30, -1), ca: true }).pem()}}),
        ),
    ] {
        let r = api
            .call(Method::PUT, "/ferrohub/certificates/other", Some(body))
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}");
        assert_eq!(error_code(&r), "ArgumentInvalid", "{what}");
    }
    let bad_name = api
        .call(Method::GET, "/ferrohub/certificates/bad%20name", None)
        .await
        .unwrap();
    assert_eq!(bad_name.status, StatusCode::BAD_REQUEST);

    let reader = s.api_as(s.policy("registryRead"));
    assert_eq!(
        get_status(&reader, "/ferrohub/certificates").await,
        StatusCode::OK
    );
    let refused = reader
        .call(Method::DELETE, "/ferrohub/certificates/root", None)
        .await
        .unwrap();
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
}

standalone!(
    an_untrusted_chain_fails_the_tls_handshake,
    a_missing_intermediate_fails_the_tls_handshake_and_the_full_chain_connects,
    a_ca_without_completed_proof_of_possession_is_not_trusted,
    after_proof_of_possession_a_ca_signed_device_connects_and_its_telemetry_says_x509,
    a_wrong_verification_certificate_is_400_and_the_ca_stays_unverified,
    expired_and_not_yet_valid_leaves_under_a_verified_ca_get_connack_5,
    a_leaf_marked_ca_under_a_verified_ca_gets_connack_5,
    a_common_name_other_than_the_identity_gets_connack_5,
    a_ca_verified_in_one_hub_does_not_vouch_for_another_hubs_devices,
    a_chain_through_cas_verified_in_two_hubs_serves_each_hubs_devices,
    deleting_the_ca_makes_new_connections_fail,
    certificate_operations_answer_404_412_409_400_and_401_with_iot_hub_error_bodies,
);
