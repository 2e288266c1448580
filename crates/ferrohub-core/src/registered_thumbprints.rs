//! The thumbprints registered on `selfSigned` identities, as a set the TLS layer reads on each
//! handshake.
//!
//! Why: IoT Hub's thumbprint authentication pins one exact certificate and ignores its chain,
//! so a device may present a certificate issued by a CA the hub has never seen (a corporate
//! or vendor CA) and register its thumbprint. The TLS verifier refuses chains that reach no
//! verified CA (hostile C11), unless the leaf's thumbprint is in this set; CONNECT then checks
//! the thumbprint against the device's own record, as for a self-signed certificate.
//!
//! The set is read from the store at start and grows with every identity write; thumbprints
//! of deleted or re-keyed identities stay until the next start. That errs on the side of
//! letting a handshake through: the certificate still authenticates no one at CONNECT.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use ferrohub_store::{AuthenticationType, DeviceAuthentication};

/// Thumbprints compare as uppercase hex digits, ignoring `:` and spaces (as the portal and
/// `openssl x509 -fingerprint` show them).
pub fn normalise_thumbprint(thumbprint: &str) -> String {
    thumbprint
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The shared handle: cheap to clone, read per handshake.
#[derive(Debug, Clone, Default)]
pub struct RegisteredThumbprints {
    set: Arc<RwLock<HashSet<String>>>,
}

impl RegisteredThumbprints {
    /// Whether a certificate with this SHA-1 or SHA-256 thumbprint (hex) is registered on
    /// some `selfSigned` identity.
    pub fn contains(&self, thumbprint: &str) -> bool {
        let wanted = normalise_thumbprint(thumbprint);
        !wanted.is_empty()
            && self
                .set
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&wanted)
    }

    /// Adds thumbprints (as stored: any case, separators allowed).
    pub(crate) fn extend<'a>(&self, thumbprints: impl IntoIterator<Item = &'a str>) {
        let mut set = self.set.write().unwrap_or_else(|p| p.into_inner());
        for thumbprint in thumbprints {
            let normalised = normalise_thumbprint(thumbprint);
            if !normalised.is_empty() {
                set.insert(normalised);
            }
        }
    }

    /// Adds an identity's thumbprints if it authenticates by thumbprint.
    pub(crate) fn note(&self, authentication: &DeviceAuthentication) {
        if authentication.kind == AuthenticationType::SelfSigned {
            self.extend(
                [
                    &authentication.primary_thumbprint,
                    &authentication.secondary_thumbprint,
                ]
                .into_iter()
                .flatten()
                .map(String::as_str),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(kind: AuthenticationType, primary: &str) -> DeviceAuthentication {
        DeviceAuthentication {
            kind,
            primary_key: None,
            secondary_key: None,
            primary_thumbprint: Some(primary.to_owned()),
            secondary_thumbprint: Some(String::new()),
        }
    }

    #[test]
    fn only_self_signed_identities_add_their_thumbprints_compared_loosely() {
        let set = RegisteredThumbprints::default();
        set.note(&auth(AuthenticationType::SelfSigned, "ab:cd:01"));
        set.note(&auth(AuthenticationType::CertificateAuthority, "EEFF"));
        assert!(set.contains("ABCD01"));
        assert!(set.contains("abcd01"));
        assert!(!set.contains("EEFF"), "not a thumbprint identity");
        assert!(!set.contains(""), "an empty thumbprint matches nothing");
        assert!(!set.contains("::"), "separators alone match nothing");
    }
}
