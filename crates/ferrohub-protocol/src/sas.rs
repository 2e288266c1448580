//! Shared access signature tokens: `SharedAccessSignature sr=…&sig=…&se=…[&skn=…]`.
//!
//! Fields are found by name (Python sends sr, sig, se, skn; Node sends sr, sig, skn, se).
//! The HMAC is verified over `sr` exactly as transmitted, because both SDKs sign the text they
//! send (Python URL-encodes it, Node's DPS client does not). Resource matching uses the
//! decoded form. This module decides nothing about who may connect; `ferrohub-core` does.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Longest token text we parse; anything longer is refused before any work.
pub const MAX_TOKEN_LEN: usize = 4096;

/// The characters the SDKs leave raw when URL-encoding (`encodeURIComponent` / `quote`).
const URL_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A parsed token. `resource_raw` is kept byte-exact for the HMAC.
#[derive(Clone)]
pub struct SasToken {
    pub resource_raw: String,
    pub resource: String,
    /// Private, so nothing outside this file can compare it: the only comparison is
    /// `is_signed_by`'s constant-time `ring::hmac::verify` (hostile battery C9). For the
    /// same reason `SasToken` has no `PartialEq`.
    signature: Vec<u8>,
    pub expiry_raw: String,
    pub expiry: u64,
    pub key_name: Option<String>,
}

impl std::fmt::Debug for SasToken {
    // The signature is a credential: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SasToken")
            .field("resource", &self.resource)
            .field("expiry", &self.expiry)
            .field("key_name", &self.key_name)
            .finish_non_exhaustive()
    }
}

/// Why a token's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SasParseError {
    #[error("the token does not start with 'SharedAccessSignature '")]
    MissingPrefix,
    #[error("the token is longer than {MAX_TOKEN_LEN} bytes")]
    TooLong,
    #[error("the token field {0} appears more than once")]
    DuplicateField(String),
    #[error("the token lacks the field {0}")]
    MissingField(&'static str),
    #[error("the token field {0} is not valid")]
    InvalidField(&'static str),
}

impl SasToken {
    /// Parses the text form (as found in a CONNECT password or an `Authorization` header).
    pub fn parse(text: &str) -> Result<Self, SasParseError> {
        if text.len() > MAX_TOKEN_LEN {
            return Err(SasParseError::TooLong);
        }
        let rest = text
            .strip_prefix("SharedAccessSignature ")
            .ok_or(SasParseError::MissingPrefix)?;
        let (mut sr, mut sig, mut se, mut skn) = (None, None, None, None);
        for pair in rest.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match key {
                "sr" => &mut sr,
                "sig" => &mut sig,
                "se" => &mut se,
                "skn" => &mut skn,
                // Unknown fields are ignored, as IoT Hub does.
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(SasParseError::DuplicateField(key.to_owned()));
            }
        }
        let resource_raw = sr.ok_or(SasParseError::MissingField("sr"))?;
        let sig = sig.ok_or(SasParseError::MissingField("sig"))?;
        let expiry_raw = se.ok_or(SasParseError::MissingField("se"))?;
        let resource = decode_component(resource_raw).ok_or(SasParseError::InvalidField("sr"))?;
        let sig_text = decode_component(sig).ok_or(SasParseError::InvalidField("sig"))?;
        let signature = BASE64
            .decode(sig_text.as_bytes())
            .map_err(|_| SasParseError::InvalidField("sig"))?;
        if expiry_raw.is_empty() || !expiry_raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SasParseError::InvalidField("se"));
        }
        let expiry = expiry_raw
            .parse::<u64>()
            .map_err(|_| SasParseError::InvalidField("se"))?;
        let key_name = match skn {
            Some(v) => Some(decode_component(v).ok_or(SasParseError::InvalidField("skn"))?),
            None => None,
        };
        Ok(Self {
            resource_raw: resource_raw.to_owned(),
            resource,
            signature,
            expiry_raw: expiry_raw.to_owned(),
            expiry,
            key_name,
        })
    }

    /// True when `base64_key` signed this token. Constant-time (ring's `hmac::verify`).
    pub fn is_signed_by(&self, base64_key: &str) -> bool {
        let Ok(key) = BASE64.decode(base64_key.as_bytes()) else {
            return false;
        };
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
        let message = format!("{}\n{}", self.resource_raw, self.expiry_raw);
        ring::hmac::verify(&key, message.as_bytes(), &self.signature).is_ok()
    }

    /// True when the token's resource covers `target` by whole path segments:
    /// `h/devices/a` covers `h/devices/a` and `h/devices/a/modules/m`, never `h/devices/ab`.
    pub fn covers(&self, target: &str) -> bool {
        let mut theirs = self.resource.split('/');
        let mut ours = target.split('/');
        loop {
            match (theirs.next(), ours.next()) {
                (None, _) => return true,
                (Some(_), None) => return false,
                (Some(a), Some(b)) if a == b => continue,
                _ => return false,
            }
        }
    }
}

/// Percent-decodes one URL component, refusing malformed escapes and invalid UTF-8.
pub fn decode_component(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// URL-encodes one component the way the SDKs do.
pub fn encode_component(raw: &str) -> String {
    utf8_percent_encode(raw, URL_COMPONENT).to_string()
}

/// Builds a token for `resource` (unencoded, e.g. `host/devices/dev1`) that expires at
/// `expiry` (Unix seconds), signed with `base64_key`. `None` when the key is not base64.
pub fn sign(
    resource: &str,
    base64_key: &str,
    expiry: u64,
    key_name: Option<&str>,
) -> Option<String> {
    let key = BASE64.decode(base64_key.as_bytes()).ok()?;
    let sr = encode_component(resource);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let tag = ring::hmac::sign(&key, format!("{sr}\n{expiry}").as_bytes());
    let sig = encode_component(&BASE64.encode(tag.as_ref()));
    let mut token = format!("SharedAccessSignature sr={sr}&sig={sig}&se={expiry}");
    if let Some(name) = key_name {
        token.push_str("&skn=");
        token.push_str(&encode_component(name));
    }
    Some(token)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KEY: &str = "c2VjcmV0LWtleS1mb3ItdGVzdHMtMTIzNDU2Nzg5MA==";

    /// Hostile C9: the signature is only ever compared in constant time. The field is
    /// private (nothing outside this file can read it), and in this file the one read of it
    /// outside this test is the argument to `ring::hmac::verify`, which compares without
    /// an early exit. An `==` on it, or a second use, fails here.
    #[test]
    fn the_signature_is_read_only_by_the_constant_time_verify() {
        let source = include_str!("sas.rs");
        let code = &source[..source.find("#[cfg(test)]").unwrap()];
        let reads: Vec<&str> = code
            .lines()
            .filter(|l| l.contains("self.signature") || l.contains(".signature"))
            .collect();
        assert_eq!(
            reads,
            ["        ring::hmac::verify(&key, message.as_bytes(), &self.signature).is_ok()"],
            "every read of the signature outside ring::hmac::verify"
        );
        // A derived or hand-written equality would compare the signature with an early exit.
        let declared_at = code.find("pub struct SasToken").unwrap();
        let derive = &code[code[..declared_at].rfind("#[derive(").unwrap()..declared_at];
        assert!(!derive.contains("PartialEq"), "SasToken {derive}");
        assert!(!code.contains("PartialEq for SasToken"));
    }

    /// The verify rejects a signature differing from the right one only in its first or
    /// only in its last byte, and a truncated or extended one.
    #[test]
    fn near_miss_signatures_are_refused() {
        let token = sign("localhost/devices/dev1", KEY, 2_000_000_000, None).unwrap();
        let good = SasToken::parse(&token).unwrap();
        assert!(good.is_signed_by(KEY));
        let last = good.signature.len() - 1;
        let mut variants = Vec::new();
        for flip in [0, last] {
            let mut sig = good.signature.clone();
            sig[flip] ^= 1;
            variants.push(sig);
        }
        variants.push(good.signature[..last].to_vec());
        variants.push([good.signature.clone(), vec![0]].concat());
        for signature in variants {
            let forged = SasToken {
                signature,
                ..good.clone()
            };
            assert!(!forged.is_signed_by(KEY));
        }
    }

    #[test]
    fn a_signed_token_verifies_with_its_key_and_not_another() {
        let token = sign("localhost/devices/dev1", KEY, 2_000_000_000, None).unwrap();
        let parsed = SasToken::parse(&token).unwrap();
        assert_eq!(parsed.resource, "localhost/devices/dev1");
        assert_eq!(parsed.resource_raw, "localhost%2Fdevices%2Fdev1");
        assert!(parsed.is_signed_by(KEY));
        assert!(!parsed.is_signed_by("b3RoZXIta2V5"));
    }

    #[test]
    fn fields_are_found_by_name_in_any_order() {
        let token = sign("h/devices/d", KEY, 42, Some("device")).unwrap();
        let p = SasToken::parse(&token).unwrap();
        let body = token.strip_prefix("SharedAccessSignature ").unwrap();
        let mut fields: Vec<&str> = body.split('&').collect();
        fields.reverse();
        let reordered = format!("SharedAccessSignature {}", fields.join("&"));
        let q = SasToken::parse(&reordered).unwrap();
        assert_eq!(
            (
                &q.resource_raw,
                &q.resource,
                &q.expiry_raw,
                q.expiry,
                &q.key_name
            ),
            (
                &p.resource_raw,
                &p.resource,
                &p.expiry_raw,
                p.expiry,
                &p.key_name
            )
        );
        assert!(q.is_signed_by(KEY));
        assert_eq!(p.key_name.as_deref(), Some("device"));
    }

    #[test]
    fn node_style_raw_resource_is_verified_as_transmitted() {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &BASE64.decode(KEY).unwrap());
        let tag = ring::hmac::sign(&key, b"scope/registrations/reg1\n99");
        let sig = encode_component(&BASE64.encode(tag.as_ref()));
        let text = format!(
            "SharedAccessSignature sr=scope/registrations/reg1&sig={sig}&skn=registration&se=99"
        );
        let p = SasToken::parse(&text).unwrap();
        assert!(p.is_signed_by(KEY));
        assert_eq!(p.resource, "scope/registrations/reg1");
    }

    #[test]
    fn malformed_tokens_are_refused_with_the_reason() {
        assert_eq!(
            SasToken::parse("sr=a&sig=b&se=1").err(),
            Some(SasParseError::MissingPrefix)
        );
        assert_eq!(
            SasToken::parse("SharedAccessSignature sr=a&sr=b&sig=YQ==&se=1").err(),
            Some(SasParseError::DuplicateField("sr".into()))
        );
        assert_eq!(
            SasToken::parse("SharedAccessSignature sr=a&sig=YQ==").err(),
            Some(SasParseError::MissingField("se"))
        );
        for se in ["-1", "abc", "", "99999999999999999999999"] {
            assert_eq!(
                SasToken::parse(&format!("SharedAccessSignature sr=a&sig=YQ==&se={se}")).err(),
                Some(SasParseError::InvalidField("se")),
                "se={se}"
            );
        }
        assert_eq!(
            SasToken::parse("SharedAccessSignature sr=a%zz&sig=YQ==&se=1").err(),
            Some(SasParseError::InvalidField("sr"))
        );
        let long = format!(
            "SharedAccessSignature sr={}&sig=YQ==&se=1",
            "a".repeat(65536)
        );
        assert_eq!(SasToken::parse(&long).err(), Some(SasParseError::TooLong));
    }

    #[test]
    fn resources_match_by_whole_path_segments() {
        let t = |sr: &str| {
            SasToken::parse(&format!("SharedAccessSignature sr={sr}&sig=YQ==&se=1")).unwrap()
        };
        assert!(t("h/devices/dev1").covers("h/devices/dev1"));
        assert!(t("h/devices/dev1").covers("h/devices/dev1/modules/m"));
        assert!(t("h").covers("h/devices/dev1"));
        assert!(!t("h/devices/dev1").covers("h/devices/dev10"));
        assert!(!t("h/devices/dev1/").covers("h/devices/dev1"));
        assert!(!t("h/devices/Dev1").covers("h/devices/dev1"));
        assert!(!t("h/devices/dev1/modules/m").covers("h/devices/dev1"));
    }
}
