//! X.509 certificates as the hub's certificate operations see them: parsed from what a
//! caller uploads, reduced to the facts IoT Hub shows (subject, SHA-1 thumbprint, expiry),
//! and the proof-of-possession check.
//!
//! Uploads come as PEM text or as base64 of the DER, the two forms ARM accepts. Only
//! parsing and signature checks live here (x509-parser with ring); chain building for
//! devices is the TLS layer's job, and nothing here reads the network.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::Pem;

/// What a caller sent could not be read as one X.509 certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("the certificate is neither PEM nor base64-encoded DER")]
    NotEncoded,
    #[error("the certificate is not valid X.509: {0}")]
    Malformed(String),
}

/// An uploaded certificate and the facts the certificates resource reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCertificate {
    pub der: Vec<u8>,
    /// The subject as text (`CN=…, O=…`).
    pub subject: String,
    /// SHA-1 of the DER, uppercase hex, as IoT Hub shows thumbprints.
    pub thumbprint: String,
    pub not_after: OffsetDateTime,
}

/// Uppercase hex SHA-1 of a certificate's DER.
pub fn sha1_thumbprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// The DER of the first certificate in `text` (PEM), or of `text` as base64.
fn decode(text: &str) -> Result<Vec<u8>, CertificateError> {
    if text.contains("-----BEGIN") {
        return Pem::iter_from_buffer(text.as_bytes())
            .filter_map(Result::ok)
            .find(|pem| pem.label == "CERTIFICATE")
            .map(|pem| pem.contents)
            .ok_or(CertificateError::NotEncoded);
    }
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    BASE64
        .decode(compact)
        .map_err(|_| CertificateError::NotEncoded)
}

fn parse_der(der: &[u8]) -> Result<X509Certificate<'_>, CertificateError> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| CertificateError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CertificateError::Malformed(
            "bytes follow the certificate".into(),
        ));
    }
    Ok(cert)
}

/// Reads an uploaded certificate.
pub fn parse_certificate(text: &str) -> Result<ParsedCertificate, CertificateError> {
    let der = decode(text.trim())?;
    let cert = parse_der(&der)?;
    let not_after = OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp())
        .map_err(|e| CertificateError::Malformed(e.to_string()))?;
    let subject = cert.subject().to_string();
    let thumbprint = sha1_thumbprint(&der);
    Ok(ParsedCertificate {
        der,
        subject,
        thumbprint,
        not_after,
    })
}

/// PEM text of a DER certificate (what the certificates resource returns).
pub fn to_pem(der: &[u8]) -> String {
    let body = BASE64.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// Why a proof-of-possession certificate did not prove anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("{0}")]
    Unreadable(#[from] CertificateError),
    #[error("the verification certificate's subject CN is {found:?}, not the verification code")]
    WrongCommonName { found: Option<String> },
    #[error("the verification certificate is not signed by the CA certificate's key")]
    NotSignedByCa,
}

/// IoT Hub's proof of possession: a certificate whose subject CN is the verification code,
/// signed with the CA certificate's private key.
pub fn check_proof_of_possession(
    ca_der: &[u8],
    proof: &str,
    verification_code: &str,
) -> Result<(), ProofError> {
    let proof_der = decode(proof.trim())?;
    let proof = parse_der(&proof_der)?;
    let common_name = proof
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    if common_name.as_deref() != Some(verification_code) {
        return Err(ProofError::WrongCommonName { found: common_name });
    }
    let ca = parse_der(ca_der)?;
    proof
        .verify_signature(Some(ca.public_key()))
        .map_err(|_| ProofError::NotSignedByCa)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(
            parse_certificate("not base64 !!"),
            Err(CertificateError::NotEncoded)
        );
        assert!(matches!(
            parse_certificate("aGVsbG8="),
            Err(CertificateError::Malformed(_))
        ));
        assert_eq!(
            parse_certificate("-----BEGIN PRIVATE KEY-----\naGVsbG8=\n-----END PRIVATE KEY-----\n"),
            Err(CertificateError::NotEncoded)
        );
    }

    struct Made {
        der: Vec<u8>,
        pem: String,
        key: rcgen::KeyPair,
        params: rcgen::CertificateParams,
    }

    fn make(cn: &str, issuer: Option<&Made>) -> Made {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = match issuer {
            Some(i) => params
                .signed_by(&key, &rcgen::Issuer::from_params(&i.params, &i.key))
                .unwrap(),
            None => params.self_signed(&key).unwrap(),
        };
        Made {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            key,
            params,
        }
    }

    #[test]
    fn pem_and_base64_der_read_the_same_with_iot_hub_facts() {
        let ca = make("My Root", None);
        let from_pem = parse_certificate(&ca.pem).unwrap();
        let from_der = parse_certificate(&BASE64.encode(&ca.der)).unwrap();
        assert_eq!(from_pem, from_der);
        assert_eq!(from_pem.der, ca.der);
        assert_eq!(from_pem.subject, "CN=My Root");
        assert_eq!(from_pem.thumbprint, sha1_thumbprint(&ca.der));
        assert_eq!(from_pem.thumbprint.len(), 40);
        assert!(
            from_pem
                .thumbprint
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
    }

    #[test]
    fn only_a_certificate_named_after_the_code_and_signed_by_the_ca_proves_possession() {
        let ca = make("root", None);
        let impostor = make("root", None);
        let good = make("CODE123", Some(&ca));
        assert_eq!(
            check_proof_of_possession(&ca.der, &good.pem, "CODE123"),
            Ok(())
        );
        assert_eq!(
            check_proof_of_possession(&ca.der, &good.pem, "OTHER"),
            Err(ProofError::WrongCommonName {
                found: Some("CODE123".into())
            })
        );
        let forged = make("CODE123", Some(&impostor));
        assert_eq!(
            check_proof_of_possession(&ca.der, &forged.pem, "CODE123"),
            Err(ProofError::NotSignedByCa)
        );
        assert!(matches!(
            check_proof_of_possession(&ca.der, "garbage", "CODE123"),
            Err(ProofError::Unreadable(_))
        ));
    }

    #[test]
    fn pem_output_wraps_base64_at_64_columns() {
        let pem = to_pem(&[0u8; 100]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
        assert_eq!(decode(&pem).unwrap(), vec![0u8; 100]);
    }
}
