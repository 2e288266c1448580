//! A hub's CA certificates: what IoT Hub's "certificates" resource holds for CA-signed
//! device authentication (the certificate, its facts as the portal shows them, and the
//! proof-of-possession state).

use std::fmt;

use ferrohub_protocol::ids::HubName;
use serde::{Deserialize, Serialize};

/// A certificate's name within its hub: 1 to 64 of `A-Z a-z 0-9 - . _`, ARM's rule for
/// certificate names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CaCertificateName(String);

/// Why a certificate name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a certificate name is 1 to 64 letters, digits, '-', '.' or '_'")]
pub struct InvalidCaCertificateName;

impl CaCertificateName {
    pub const MAX_LEN: usize = 64;

    pub fn new(name: impl Into<String>) -> Result<Self, InvalidCaCertificateName> {
        let name = name.into();
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
        if name.is_empty() || name.len() > Self::MAX_LEN || !name.chars().all(allowed) {
            return Err(InvalidCaCertificateName);
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CaCertificateName {
    type Error = InvalidCaCertificateName;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<CaCertificateName> for String {
    fn from(value: CaCertificateName) -> Self {
        value.0
    }
}

impl fmt::Display for CaCertificateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One CA certificate of a hub, keyed by (hub, name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaCertificateRecord {
    pub hub: HubName,
    pub name: CaCertificateName,
    /// The certificate's DER.
    pub der: Vec<u8>,
    /// The subject as text (`CN=…, O=…`).
    pub subject: String,
    /// SHA-1 of the DER, uppercase hex (the thumbprint IoT Hub shows).
    pub thumbprint: String,
    /// The end of the validity period, RFC 3339.
    pub expiry: String,
    /// Proof of possession completed (or asserted at upload): only verified certificates
    /// vouch for devices.
    pub is_verified: bool,
    /// Set by the caller on every write; the store only compares it.
    pub etag: String,
    /// The code a proof-of-possession certificate must carry as its subject CN, once one has
    /// been generated and until the certificate is verified or replaced.
    pub verification_code: Option<String>,
    /// RFC 3339.
    pub created_time: String,
    /// RFC 3339.
    pub updated_time: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_names_follow_the_arm_pattern() {
        for good in ["root", "my-CA.2024_v1", &"a".repeat(64)] {
            assert!(CaCertificateName::new(good).is_ok(), "{good}");
        }
        for bad in ["", "has space", "slash/", "ü", &"a".repeat(65)] {
            assert_eq!(
                CaCertificateName::new(bad),
                Err(InvalidCaCertificateName),
                "{bad}"
            );
        }
    }
}
