//! Device certificates: asked for in the TLS handshake, judged partly there and partly at
//! CONNECT.
//!
//! IoT Hub requests a client certificate in optional mode (SAS devices send none). The
//! handshake always checks the handshake signature (the proof of possession, never
//! skipped). Then:
//!
//! - A self-signed leaf (its issuer is its subject and its own key signed it) is let
//!   through: only a thumbprint can vouch for it, and that is checked at CONNECT, when the
//!   device is known. A thumbprint pins one exact certificate, so its basic constraints do
//!   not matter: `openssl req -x509`, which the Azure tutorials use, marks its output
//!   `CA:TRUE`, and IoT Hub accepts such certificates for thumbprint authentication.
//! - Any other chain must lead to a verified CA certificate of some hub
//!   ([`crate::client_chain`]), or its leaf's thumbprint must be registered on some
//!   `selfSigned` identity (IoT Hub's thumbprint authentication ignores the chain, so a
//!   device may pin a certificate from a CA the hub does not know); otherwise the handshake
//!   fails with a TLS alert (hostile C11: untrusted chain, missing intermediate, CA without
//!   proof of possession). Which hub's CA it reached, the thumbprint's identity, the leaf's
//!   CN, its basic constraints and its dates are left for CONNECT.
//!
//! The trusted CAs and the registered thumbprints change at run time; the verifier reads
//! the current ones on every handshake.

use std::sync::Arc;

use ferrohub_core::registered_thumbprints::RegisteredThumbprints;
use ferrohub_core::trusted_cas::{TrustedCaSet, TrustedCas};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use x509_parser::certificate::X509Certificate;

use crate::client_chain::{Validity, issuing_cas};

/// What authentication needs to know about the device's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// Uppercase hex SHA-1 of the leaf's DER (IoT Hub's thumbprint form).
    pub sha1: String,
    /// Uppercase hex SHA-256 of the leaf's DER.
    pub sha256: String,
    /// Why the certificate cannot authenticate anyone (malformed, expired, not yet valid).
    pub problem: Option<String>,
    /// The leaf's subject common name.
    pub common_name: Option<String>,
    /// The leaf's basic constraints say CA:TRUE.
    pub is_ca: bool,
    /// Thumbprints of the verified CAs the chain leads to; empty for a self-signed leaf.
    pub issuing_cas: Vec<String>,
}

/// The client-certificate verifier; see the module docs.
#[derive(Debug)]
pub struct DeviceCertVerifier {
    algorithms: WebPkiSupportedAlgorithms,
    trusted: TrustedCas,
    thumbprints: RegisteredThumbprints,
}

impl DeviceCertVerifier {
    pub fn new(
        provider: &CryptoProvider,
        trusted: TrustedCas,
        thumbprints: RegisteredThumbprints,
    ) -> Arc<Self> {
        Arc::new(Self {
            algorithms: provider.signature_verification_algorithms,
            trusted,
            thumbprints,
        })
    }
}

/// Uppercase hex SHA-1 (IoT Hub's thumbprint form) and SHA-256 of a certificate.
fn thumbprints(der: &[u8]) -> (String, String) {
    (
        hex(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref()),
        hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref()),
    )
}

fn parse<'a>(der: &'a CertificateDer<'_>) -> Result<X509Certificate<'a>, String> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, cert)| cert)
        .map_err(|e| format!("the certificate is malformed: {e}"))
}

/// Issued by itself and signed by its own key.
fn is_self_signed(cert: &X509Certificate<'_>) -> bool {
    cert.subject().as_raw() == cert.issuer().as_raw() && cert.verify_signature(None).is_ok()
}

impl ClientCertVerifier for DeviceCertVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let leaf = parse(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        if is_self_signed(&leaf) {
            return Ok(ClientCertVerified::assertion());
        }
        let reached = issuing_cas(
            &leaf,
            end_entity,
            intermediates,
            &self.trusted.snapshot(),
            self.algorithms.all,
            now,
        );
        if reached.is_empty() {
            let (sha1, sha256) = thumbprints(end_entity);
            if self.thumbprints.contains(&sha1) || self.thumbprints.contains(&sha256) {
                // Pinned by thumbprint: the chain does not matter; CONNECT checks that the
                // thumbprint is the connecting identity's.
                return Ok(ClientCertVerified::assertion());
            }
            tracing::debug!(
                subject = %leaf.subject(),
                issuer = %leaf.issuer(),
                "client certificate refused: its chain leads to no verified CA certificate"
            );
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ));
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// `inspect` for a handshake that just completed: the hub's trusted CAs as they are now,
/// the default provider's algorithms, the current time. The MQTT port and MQTT over
/// WebSockets both judge the presented chain this way.
pub fn inspect_now(
    chain: &[CertificateDer<'_>],
    hub: &ferrohub_core::Hub,
) -> Option<ClientCertificate> {
    let algorithms = crate::tls::provider().signature_verification_algorithms;
    inspect(
        chain,
        &hub.trusted_cas().snapshot(),
        &algorithms,
        UnixTime::now(),
    )
}

/// What CONNECT needs from the chain a device presented in a completed handshake (`chain`
/// is the leaf first, then what the device sent with it); `None` without a certificate.
pub fn inspect(
    chain: &[CertificateDer<'_>],
    trusted: &TrustedCaSet,
    algorithms: &WebPkiSupportedAlgorithms,
    now: UnixTime,
) -> Option<ClientCertificate> {
    let (leaf_der, intermediates) = chain.split_first()?;
    let (sha1, sha256) = thumbprints(leaf_der);
    let leaf = match parse(leaf_der) {
        Ok(leaf) => leaf,
        Err(problem) => {
            return Some(ClientCertificate {
                sha1,
                sha256,
                problem: Some(problem),
                common_name: None,
                is_ca: false,
                issuing_cas: Vec::new(),
            });
        }
    };
    let issuing_cas = if is_self_signed(&leaf) {
        Vec::new()
    } else {
        issuing_cas(&leaf, leaf_der, intermediates, trusted, algorithms.all, now)
    };
    Some(ClientCertificate {
        sha1,
        sha256,
        problem: validity_problem(&leaf, now),
        common_name: leaf
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned),
        is_ca: leaf.is_ca(),
        issuing_cas,
    })
}

/// The certificate must be within its validity period now.
fn validity_problem(leaf: &X509Certificate<'_>, now: UnixTime) -> Option<String> {
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = Validity::of(leaf);
    if now < validity.not_before {
        Some(format!(
            "the certificate is not valid before {}",
            leaf.validity().not_before
        ))
    } else if now > validity.not_after {
        Some(format!(
            "the certificate expired at {}",
            leaf.validity().not_after
        ))
    } else {
        None
    }
}
