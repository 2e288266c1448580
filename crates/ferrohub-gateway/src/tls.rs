//! The TLS server configuration shared by the MQTT and HTTPS listeners.
//!
//! rustls with the ring provider only (chosen here, in one place). TLS 1.2 with ECDHE and
//! AEAD suites (rustls offers nothing weaker) because the Python SDK pins TLS 1.2, and TLS 1.3.
//! The certificate is picked per handshake by [`ServerCertResolver`] (SNI).

use std::sync::Arc;

use ferrohub_core::registered_thumbprints::RegisteredThumbprints;
use ferrohub_core::trusted_cas::TrustedCas;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;

use crate::server_cert::ServerCertResolver;

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("the TLS configuration was refused: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The one crypto provider of the server.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the server configuration around the certificate resolver; device certificates
/// that are not self-signed must chain to one of `trusted` or have a thumbprint in
/// `thumbprints` (both read per handshake).
pub fn server_config(
    certificates: Arc<ServerCertResolver>,
    trusted: TrustedCas,
    thumbprints: RegisteredThumbprints,
) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let provider = provider();
    // Devices may present a certificate (X.509 authentication); it is optional, as in IoT Hub.
    let verifier = crate::client_cert::DeviceCertVerifier::new(&provider, trusted, thumbprints);
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(certificates);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // No session resumption: devices reconnect rarely, and tickets cost a stored session
    // per handshake plus the time to issue them.
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Ok(Arc::new(config))
}

/// The same certificates (the same resolver, so what it issued is shared), without ALPN,
/// for the MQTT port (devices send no ALPN, or `mqtt`).
pub fn mqtt_config(https: &ServerConfig) -> Arc<ServerConfig> {
    let mut config = https.clone();
    config.alpn_protocols.clear();
    Arc::new(config)
}
