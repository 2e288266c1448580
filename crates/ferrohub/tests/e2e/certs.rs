//! Test certificates (rcgen) and device connections that present them over real TLS.

use std::sync::Arc;

use bytes::BytesMut;
use ferrohub_mqtt::{Connect, ConnectReturnCode, Packet};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::support::{HOST, Next, RawClient, TestServer};

/// A certificate with its key, able to sign others when it is a CA.
pub struct Issued {
    pub der: CertificateDer<'static>,
    pub key: KeyPair,
    params: CertificateParams,
}

impl Issued {
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()))
    }

    pub fn pem(&self) -> String {
        let body = base64_lines(&self.der);
        format!("-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n")
    }

    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }
}

fn base64_lines(der: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    text.as_bytes()
        .chunks(64)
        .map(|l| format!("{}\n", String::from_utf8_lossy(l)))
        .collect()
}

/// What a certificate should be.
#[derive(Clone, Copy)]
pub struct Spec<'a> {
    pub cn: &'a str,
    /// Validity from now, in days (start, end).
    pub days: (i64, i64),
    pub ca: bool,
}

impl<'a> Spec<'a> {
    /// A device certificate valid from yesterday for 30 days.
    pub fn device(cn: &'a str) -> Self {
        Self {
            cn,
            days: (-1, 30),
            ca: false,
        }
    }

    /// A CA certificate valid from yesterday for a year.
    pub fn ca(cn: &'a str) -> Self {
        Self {
            cn,
            days: (-1, 365),
            ca: true,
        }
    }
}

fn params(spec: Spec<'_>) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, spec.cn);
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(spec.days.0);
    params.not_after = now + time::Duration::days(spec.days.1);
    if spec.ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
    } else {
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    }
    params
}

fn new_key() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
}

/// A self-signed certificate.
pub fn self_signed(spec: Spec<'_>) -> Issued {
    let key = new_key();
    let params = params(spec);
    let cert = params.self_signed(&key).unwrap();
    Issued {
        der: cert.der().clone(),
        key,
        params,
    }
}

/// A certificate `issuer` signed.
pub fn issued_by(spec: Spec<'_>, issuer: &Issued) -> Issued {
    let key = new_key();
    let params = params(spec);
    let cert = params.signed_by(&key, &issuer.issuer()).unwrap();
    Issued {
        der: cert.der().clone(),
        key,
        params,
    }
}

/// SHA-1 of a DER, lowercase hex.
pub fn sha1_hex(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Which TLS version the device dials with.
#[derive(Debug, Clone, Copy)]
pub enum Version {
    Tls12,
    Tls13,
}

/// A TLS connection to the MQTT port presenting `chain` (leaf first) signed by `key`.
pub async fn tls_with_chain(
    s: &TestServer,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    version: Version,
) -> std::io::Result<RawClient> {
    let config = client_config(s, chain, key, version);
    let tcp = TcpStream::connect(s.mqtt_addr).await?;
    let tls = TlsConnector::from(config)
        .connect(ServerName::try_from(HOST).unwrap(), tcp)
        .await?;
    Ok(RawClient {
        tls,
        buf: BytesMut::new(),
    })
}

/// A client TLS configuration trusting the server's CA and presenting `chain` with `key`.
pub fn client_config(
    s: &TestServer,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    version: Version,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::pem::PemObject::pem_file_iter(s.ca()).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let versions: &[&rustls::SupportedProtocolVersion] = match version {
        Version::Tls12 => &[&rustls::version::TLS12],
        Version::Tls13 => &[&rustls::version::TLS13],
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .unwrap();
    Arc::new(config)
}

/// A CONNECT for `client_id` of the default hub (`host` names another hub).
pub fn connect_packet(client_id: &str, host: &str, password: Option<String>) -> Packet {
    Packet::Connect(Connect {
        protocol_level: 4,
        clean_session: true,
        keep_alive: 60,
        client_id: client_id.into(),
        will: None,
        username: Some(format!("{host}/{client_id}/?api-version=2021-04-12")),
        password: password.map(Into::into),
    })
}

/// Connects presenting `chain`, sends CONNECT as `client_id` at `host` without password and
/// returns the client with the server's answer.
pub async fn connect_with_chain(
    s: &TestServer,
    chain: &[&Issued],
    client_id: &str,
    host: &str,
) -> (RawClient, Next) {
    let ders = chain.iter().map(|c| c.der.clone()).collect();
    let key = chain[0].private_key();
    let mut raw = tls_with_chain(s, ders, key, Version::Tls13)
        .await
        .unwrap_or_else(|e| panic!("the TLS handshake failed: {e}"));
    raw.send(&connect_packet(client_id, host, None)).await;
    let answer = raw.next().await;
    (raw, answer)
}

/// The CONNACK code a CONNECT presenting `chain` gets (the connection is then dropped).
pub async fn connack_with_chain(
    s: &TestServer,
    chain: &[&Issued],
    client_id: &str,
    host: &str,
) -> ConnectReturnCode {
    let (mut raw, answer) = connect_with_chain(s, chain, client_id, host).await;
    let code = code(&answer);
    if code != ConnectReturnCode::Accepted {
        assert_eq!(
            raw.next_within(std::time::Duration::from_secs(1)).await,
            Next::Closed,
            "a refusal ({code:?}) is followed by a close"
        );
    }
    code
}

/// The CONNACK code in `next`.
pub fn code(next: &Next) -> ConnectReturnCode {
    match next {
        Next::Packet(Packet::ConnAck(a)) => a.code,
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

/// The alert a refused TLS connection ended with, if it ended with one.
fn alert_in(error: &std::io::Error) -> Option<rustls::AlertDescription> {
    match error.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::AlertReceived(alert) => Some(*alert),
        _ => None,
    }
}

/// Asserts that the server ends the handshake with an `unknown_ca` alert, over TLS 1.2 and
/// TLS 1.3. In TLS 1.3 the client finishes first and learns of the refusal on its first
/// read, so the check sends a CONNECT and reads.
pub async fn assert_handshake_refused(s: &TestServer, chain: &[&Issued], why: &str) {
    for version in [Version::Tls12, Version::Tls13] {
        let ders = chain.iter().map(|c| c.der.clone()).collect();
        let key = chain[0].private_key();
        let error = match tls_with_chain(s, ders, key, version).await {
            Err(e) => e,
            Ok(mut raw) => {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut out = BytesMut::new();
                ferrohub_mqtt::encode(&connect_packet("any", HOST, None), &mut out).unwrap();
                let _ = raw.tls.write_all(&out).await;
                let mut buf = [0u8; 64];
                match tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    raw.tls.read(&mut buf),
                )
                .await
                .expect("the server neither refused nor answered")
                {
                    Err(e) => e,
                    Ok(n) => panic!("{why} ({version:?}): the server answered {n} bytes"),
                }
            }
        };
        assert_eq!(
            alert_in(&error),
            Some(rustls::AlertDescription::UnknownCA),
            "{why} ({version:?}): {error}"
        );
    }
}
