//! X.509 trust that must survive a restart of the server. These tests stop and restart
//! their own server, so they run alone and not in the battery.

use ferrohub_mqtt::ConnectReturnCode;

use crate::certs::{
    Spec, assert_handshake_refused, code, connack_with_chain, issued_by, self_signed, sha1_hex,
};
use crate::support::{HOST, TestServer};
use crate::x509::{connect_with_cert, register_self_signed};
use crate::x509_ca::{register_ca_device, verified_root};

#[tokio::test]
async fn a_thumbprint_may_pin_a_certificate_from_a_ca_the_hub_does_not_know() {
    // IoT Hub's thumbprint authentication ignores the chain: a vendor CA's certificate works
    // once its thumbprint is registered. Unregistered, the chain is untrusted (hostile C11).
    let s = TestServer::start().await;
    let vendor_ca = self_signed(Spec::ca("vendor CA"));
    let pinned = issued_by(Spec::device("pinned"), &vendor_ca);
    assert_handshake_refused(&s, &[&pinned], "not registered yet").await;

    register_self_signed(&s, "pinned", &sha1_hex(&pinned.der)).await;
    let (_raw, answer) = connect_with_cert(&s, &pinned, "pinned", None).await;
    assert_eq!(code(&answer), ConnectReturnCode::Accepted);
    // The handshake lets the certificate through; CONNECT still checks it is this identity's.
    register_self_signed(&s, "someone-else", &sha1_hex(&vendor_ca.der)).await;
    let (_raw, answer) = connect_with_cert(&s, &pinned, "someone-else", None).await;
    assert_eq!(code(&answer), ConnectReturnCode::NotAuthorized);
    let stranger = issued_by(Spec::device("stranger"), &vendor_ca);
    assert_handshake_refused(&s, &[&stranger], "a sibling certificate is not pinned").await;

    // After a restart the registered thumbprints are read back from the store.
    let dir = s.stop().await;
    let s = TestServer::start_in(dir).await;
    let (_raw, answer) = connect_with_cert(&s, &pinned, "pinned", None).await;
    assert_eq!(code(&answer), ConnectReturnCode::Accepted);
    s.stop().await;
}

#[tokio::test]
async fn verified_cas_are_trusted_again_after_a_restart() {
    let s = TestServer::start().await;
    let root = verified_root(&s.api(), "root").await;
    register_ca_device(&s.api(), "dev1").await;
    let dir = s.stop().await;
    let s = TestServer::start_in(dir).await;
    let leaf = issued_by(Spec::device("dev1"), &root);
    assert_eq!(
        connack_with_chain(&s, &[&leaf], "dev1", HOST).await,
        ConnectReturnCode::Accepted
    );
    s.stop().await;
}
