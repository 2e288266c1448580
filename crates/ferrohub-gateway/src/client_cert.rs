//! Device certificates: asked for in the TLS handshake, judged at CONNECT.
//!
//! IoT Hub requests a client certificate in optional mode (SAS devices send none) and
//! authorises it only when the CONNECT names the device. So the verifier here accepts any
//! certificate whose handshake signature is genuine (the proof of possession, never skipped)
//! and leaves the decision to authentication: the leaf's SHA-1 and SHA-256 thumbprints are
//! compared with the device's registered ones, and the certificate must be in its validity
//! period. A thumbprint pins one exact certificate, so its basic constraints do not matter:
//! `openssl req -x509`, which the Azure tutorials use, marks its output `CA:TRUE`, and IoT
//! Hub accepts such certificates for thumbprint authentication.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// What authentication needs to know about the device's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// Uppercase hex SHA-1 of the leaf's DER (IoT Hub's thumbprint form).
    pub sha1: String,
    /// Uppercase hex SHA-256 of the leaf's DER.
    pub sha256: String,
    /// Why the certificate cannot authenticate anyone (expired, a CA, malformed), if it can't.
    pub problem: Option<String>,
}

/// Accepts any client certificate with a valid handshake signature; see the module docs.
#[derive(Debug)]
pub struct DeviceCertVerifier {
    algorithms: WebPkiSupportedAlgorithms,
}

impl DeviceCertVerifier {
    pub fn new(provider: &CryptoProvider) -> Arc<Self> {
        Arc::new(Self {
            algorithms: provider.signature_verification_algorithms,
        })
    }
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
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Only a certificate that parses is let through; trust is decided at CONNECT.
        webpki::EndEntityCert::try_from(end_entity)
            .map(|_| ClientCertVerified::assertion())
            .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))
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

/// Thumbprints and validity of the leaf certificate a device presented.
pub fn inspect(
    leaf: &CertificateDer<'_>,
    algorithms: &WebPkiSupportedAlgorithms,
    now: UnixTime,
) -> ClientCertificate {
    let sha1 = hex(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, leaf).as_ref());
    let sha256 = hex(ring::digest::digest(&ring::digest::SHA256, leaf).as_ref());
    ClientCertificate {
        sha1,
        sha256,
        problem: check_self_signed(leaf, algorithms, now).err(),
    }
}

/// The certificate must parse and be within its validity period now.
fn check_self_signed(
    leaf: &CertificateDer<'_>,
    _algorithms: &WebPkiSupportedAlgorithms,
    _now: UnixTime,
) -> Result<(), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf)
        .map_err(|e| format!("the certificate is malformed: {e}"))?;
    if cert.validity().is_valid() {
        Ok(())
    } else {
        Err("the certificate is expired or not yet valid".to_owned())
    }
}
