//! The TLS server configuration shared by the MQTT and HTTPS listeners.
//!
//! rustls with the ring provider only (chosen here, in one place). TLS 1.2 with ECDHE and
//! AEAD suites (rustls offers nothing weaker) because the Python SDK pins TLS 1.2, and TLS 1.3.

use std::sync::Arc;

use ferrohub_core::trusted_cas::TrustedCas;
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("the TLS configuration was refused: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Builds the server configuration from a certificate chain and its key; device
/// certificates that are not self-signed must chain to one of `trusted` (read per handshake).
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    trusted: TrustedCas,
) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // Devices may present a certificate (X.509 authentication); it is optional, as in IoT Hub.
    let verifier = crate::client_cert::DeviceCertVerifier::new(&provider, trusted);
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // No session resumption: devices reconnect rarely, and tickets cost a stored session
    // per handshake plus the time to issue them.
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Ok(Arc::new(config))
}

/// The same certificate, without ALPN, for the MQTT port (devices send no ALPN, or `mqtt`).
pub fn mqtt_config(https: &ServerConfig) -> Arc<ServerConfig> {
    let mut config = https.clone();
    config.alpn_protocols.clear();
    Arc::new(config)
}
