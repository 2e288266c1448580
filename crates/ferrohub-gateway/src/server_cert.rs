//! Which certificate the server presents, chosen per TLS handshake by the SNI name.
//!
//! A certificate the operator supplied is served for every name: we cannot sign another.
//! With the development CA, the certificate issued at start is served for the names it
//! covers; a hub's host name it does not cover (a hub created while running) gets its own
//! certificate, issued on first use and kept, so a new hub needs no restart. Any other name,
//! and no name at all (clients dialling an IP address send none), gets the start
//! certificate, and a client that checks names then refuses it, as it should.
//!
//! Signing is not done here: the gateway does not know the CA or rcgen. It asks through
//! [`HubCertificates`], which the binary implements over its development CA and the hub
//! directory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// A freshly issued certificate chain (leaf first) and its key.
pub struct IssuedCertificate {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// What the resolver asks the rest of the server when a name is not covered.
pub trait HubCertificates: Send + Sync {
    /// Whether `name` (lowercase) is a hub's host name, and so deserves a certificate.
    fn is_hub_host(&self, name: &str) -> bool;
    /// A certificate for `name`, signed by the CA devices trust.
    fn issue(&self, name: &str) -> Result<IssuedCertificate, String>;
}

/// The `ResolvesServerCert` both listeners share (so they share what has been issued).
#[derive(Debug)]
pub struct ServerCertResolver {
    start: Arc<CertifiedKey>,
    issuing: Option<Issuing>,
}

/// Certificates issued for hubs created after start. The map holds only names that
/// `is_hub_host` accepted, so it is bounded by the number of hubs; names that are not hubs
/// are never stored, whatever clients send.
struct Issuing {
    source: Arc<dyn HubCertificates>,
    issued: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    /// Held while signing, so simultaneous first handshakes for one name sign once.
    signing: Mutex<()>,
}

impl std::fmt::Debug for Issuing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let issued = self.issued.read().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("Issuing")
            .field("issued", &issued.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ServerCertResolver {
    /// Serves the operator's certificate for every name.
    pub fn provided(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, rustls::Error> {
        Ok(Self {
            start: certified(chain, key)?,
            issuing: None,
        })
    }

    /// Serves the development certificate issued at start, and asks `source` for hub
    /// host names it does not cover.
    pub fn development(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        source: Arc<dyn HubCertificates>,
    ) -> Result<Self, rustls::Error> {
        Ok(Self {
            start: certified(chain, key)?,
            issuing: Some(Issuing {
                source,
                issued: RwLock::default(),
                signing: Mutex::default(),
            }),
        })
    }

    /// The certificate for a handshake that asked for `server_name`.
    pub fn choose(&self, server_name: Option<&str>) -> Arc<CertifiedKey> {
        let (Some(issuing), Some(name)) = (&self.issuing, server_name) else {
            return self.start.clone();
        };
        let name = name.to_ascii_lowercase();
        if let Some(cert) = issuing.issued(&name) {
            return cert;
        }
        if covers(&self.start, &name) || !issuing.source.is_hub_host(&name) {
            return self.start.clone();
        }
        issuing.issue(&name).unwrap_or_else(|e| {
            tracing::warn!(server_name = %name, error = %e,
                "cannot issue a certificate for a hub; serving the start certificate");
            self.start.clone()
        })
    }
}

impl ResolvesServerCert for ServerCertResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.choose(client_hello.server_name()))
    }
}

impl Issuing {
    fn issued(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let issued = self.issued.read().unwrap_or_else(|p| p.into_inner());
        issued.get(name).cloned()
    }

    fn issue(&self, name: &str) -> Result<Arc<CertifiedKey>, String> {
        let _signing = self.signing.lock().unwrap_or_else(|p| p.into_inner());
        // Another handshake may have issued it while this one waited for the lock.
        if let Some(cert) = self.issued(name) {
            return Ok(cert);
        }
        let fresh = self.source.issue(name)?;
        let cert = certified(fresh.chain, fresh.key).map_err(|e| e.to_string())?;
        tracing::info!(server_name = %name, "issued a certificate for a hub created after start");
        self.issued
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), cert.clone());
        Ok(cert)
    }
}

/// A chain and key as rustls serves them; refuses a key that does not match the leaf.
fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<CertifiedKey>, rustls::Error> {
    Ok(Arc::new(CertifiedKey::from_der(
        chain,
        key,
        &crate::tls::provider(),
    )?))
}

/// Whether the certificate's leaf is valid for `name` (the check a client makes).
fn covers(cert: &CertifiedKey, name: &str) -> bool {
    let Ok(name) = ServerName::try_from(name) else {
        return false;
    };
    cert.end_entity_cert().is_ok_and(|leaf| {
        webpki::EndEntityCert::try_from(leaf)
            .is_ok_and(|leaf| leaf.verify_is_valid_for_subject_name(&name).is_ok())
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use rcgen::{CertificateParams, Issuer, KeyPair};

    use super::*;

    /// Signs leaves for whatever it is asked, and counts how often it was asked.
    struct TestCa {
        issuer: Issuer<'static, KeyPair>,
        hubs: Vec<&'static str>,
        issued: AtomicUsize,
        fail: bool,
    }

    impl TestCa {
        fn new(hubs: Vec<&'static str>) -> Self {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            Self {
                issuer: Issuer::new(params, key),
                hubs,
                issued: AtomicUsize::new(0),
                fail: false,
            }
        }

        fn leaf(&self, names: &[&str]) -> IssuedCertificate {
            let key = KeyPair::generate().unwrap();
            let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
            let cert = CertificateParams::new(names)
                .unwrap()
                .signed_by(&key, &self.issuer)
                .unwrap();
            IssuedCertificate {
                chain: vec![cert.der().clone()],
                key: PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            }
        }
    }

    impl HubCertificates for TestCa {
        fn is_hub_host(&self, name: &str) -> bool {
            self.hubs.contains(&name)
        }

        fn issue(&self, name: &str) -> Result<IssuedCertificate, String> {
            self.issued.fetch_add(1, Ordering::SeqCst);
            if self.fail {
                return Err("the CA is unavailable".into());
            }
            Ok(self.leaf(&[name]))
        }
    }

    fn development(ca: &Arc<TestCa>) -> ServerCertResolver {
        let start = ca.leaf(&["localhost", "alias.local"]);
        ServerCertResolver::development(start.chain, start.key, ca.clone()).unwrap()
    }

    fn leaf_of(cert: &CertifiedKey) -> CertificateDer<'static> {
        cert.end_entity_cert().unwrap().clone().into_owned()
    }

    #[test]
    fn the_operators_certificate_is_served_for_every_name() {
        let ca = TestCa::new(vec!["new.hub"]);
        let own = ca.leaf(&["iot.example.com"]);
        let leaf = own.chain[0].clone();
        let resolver = ServerCertResolver::provided(own.chain, own.key).unwrap();
        for name in [
            None,
            Some("new.hub"),
            Some("iot.example.com"),
            Some("other"),
        ] {
            assert_eq!(leaf_of(&resolver.choose(name)), leaf, "{name:?}");
        }
    }

    #[test]
    fn covered_names_unknown_names_and_no_name_get_the_start_certificate() {
        let ca = Arc::new(TestCa::new(vec!["new.hub"]));
        let resolver = development(&ca);
        let start = leaf_of(&resolver.start);
        for name in [
            None,
            Some("LocalHost"),
            Some("alias.local"),
            Some("not-a-hub"),
        ] {
            assert_eq!(leaf_of(&resolver.choose(name)), start, "{name:?}");
        }
        assert_eq!(ca.issued.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_hub_outside_the_start_certificate_gets_its_own_issued_once() {
        let ca = Arc::new(TestCa::new(vec!["new.hub"]));
        let resolver = development(&ca);
        let first = resolver.choose(Some("New.Hub"));
        assert!(covers(&first, "new.hub"));
        assert!(!covers(&resolver.start, "new.hub"));
        let again = resolver.choose(Some("new.hub"));
        assert_eq!(leaf_of(&again), leaf_of(&first));
        assert_eq!(ca.issued.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_certificate_that_cannot_be_issued_falls_back_to_the_start_certificate() {
        let mut ca = TestCa::new(vec!["new.hub"]);
        ca.fail = true;
        let ca = Arc::new(ca);
        let resolver = development(&ca);
        assert_eq!(
            leaf_of(&resolver.choose(Some("new.hub"))),
            leaf_of(&resolver.start)
        );
        // Nothing was stored, so the next handshake tries again.
        resolver.choose(Some("new.hub"));
        assert_eq!(ca.issued.load(Ordering::SeqCst), 2);
    }
}
