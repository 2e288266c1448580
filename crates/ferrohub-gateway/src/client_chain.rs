//! Which verified CA certificates a device's certificate chain leads to.
//!
//! Used for every client certificate that is not self-signed, once in the handshake (no CA
//! reached: the handshake fails) and once after it (the thumbprints of the CAs reached go to
//! CONNECT, which picks those of the device's own hub). Every path is followed, not just
//! the first one found, because one chain may lead to a root verified in one hub and to an
//! intermediate verified in another.
//!
//! Dates: the chain is judged at a moment inside the leaf's own validity period (now, when
//! the leaf is valid), so an expired or not-yet-valid leaf under a trusted CA gets through
//! the handshake and is refused at CONNECT with a reason, as IoT Hub answers it; the CAs'
//! own expiry is judged at the real time.
//!
//! A leaf marked CA:TRUE cannot go through rustls-webpki (it refuses a CA as end entity
//! before building any path), so such chains are followed here with signature checks only.
//! That weaker walk never grants anything: CONNECT refuses CA:TRUE leaves for CA
//! authentication, and thumbprint authentication pins the exact certificate anyway.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use ferrohub_core::trusted_cas::{TrustedCa, TrustedCaSet};
use rustls::pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use x509_parser::certificate::X509Certificate;

/// The longest chain of intermediates followed for a CA:TRUE leaf.
const MAX_DEPTH: usize = 6;
/// Signature checks one CA:TRUE leaf may cost (a client may send many look-alike issuers).
const SIGNATURE_BUDGET: u32 = 64;

/// A certificate's validity period in Unix seconds.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    pub not_before: i64,
    pub not_after: i64,
}

impl Validity {
    pub fn of(cert: &X509Certificate<'_>) -> Self {
        Self {
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        }
    }

    pub fn contains(&self, unix_seconds: i64) -> bool {
        (self.not_before..=self.not_after).contains(&unix_seconds)
    }

    /// `now`, moved into this period if it lies outside.
    fn clamp(&self, now: i64) -> i64 {
        if self.not_before > self.not_after {
            now
        } else {
            now.clamp(self.not_before, self.not_after)
        }
    }
}

fn unix_seconds(t: UnixTime) -> i64 {
    i64::try_from(t.as_secs()).unwrap_or(i64::MAX)
}

fn unix_time(seconds: i64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(seconds).unwrap_or(0)))
}

/// The trusted CAs still within their validity at `now`, one per thumbprint.
fn current_cas(trusted: &TrustedCaSet, now: i64) -> Vec<&TrustedCa> {
    let mut seen = BTreeSet::new();
    trusted
        .cas
        .iter()
        .filter(|ca| !ca.is_expired_at(now) && seen.insert(ca.thumbprint.as_str()))
        .collect()
}

/// Uppercase hex SHA-1 thumbprints of the trusted CAs `leaf` (with `intermediates`) leads
/// to; empty when it leads to none.
pub fn issuing_cas(
    leaf: &X509Certificate<'_>,
    leaf_der: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    trusted: &TrustedCaSet,
    algorithms: &[&dyn SignatureVerificationAlgorithm],
    now: UnixTime,
) -> Vec<String> {
    let cas = current_cas(trusted, unix_seconds(now));
    if cas.is_empty() {
        return Vec::new();
    }
    let at = Validity::of(leaf).clamp(unix_seconds(now));
    let reached = if leaf.is_ca() {
        walk_from_ca_leaf(leaf, intermediates, &cas, at)
    } else {
        verify_with_webpki(leaf_der, intermediates, &cas, algorithms, unix_time(at))
    };
    reached
        .into_iter()
        .filter_map(|i| cas.get(i).map(|ca| ca.thumbprint.clone()))
        .collect()
}

/// Indices into `cas` that some path from `leaf_der` verifies to (client-auth usage).
fn verify_with_webpki(
    leaf_der: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    cas: &[&TrustedCa],
    algorithms: &[&dyn SignatureVerificationAlgorithm],
    at: UnixTime,
) -> BTreeSet<usize> {
    let Ok(end_entity) = webpki::EndEntityCert::try_from(leaf_der) else {
        return BTreeSet::new();
    };
    let ders: Vec<CertificateDer<'_>> = cas
        .iter()
        .map(|ca| CertificateDer::from(ca.der.as_slice()))
        .collect();
    // Anchors and their index in `cas`; a stored CA that webpki cannot read is skipped.
    let (indices, anchors): (Vec<usize>, Vec<TrustAnchor<'_>>) = ders
        .iter()
        .enumerate()
        .filter_map(|(i, der)| webpki::anchor_from_trusted_cert(der).ok().map(|a| (i, a)))
        .unzip();
    let reached = RefCell::new(BTreeSet::new());
    let record_and_keep_looking = |path: &webpki::VerifiedPath<'_>| {
        if let Some(pos) = anchors
            .iter()
            .position(|a| std::ptr::addr_eq(a, path.anchor()))
            && let Some(i) = indices.get(pos)
        {
            reached.borrow_mut().insert(*i);
        }
        // webpki then tries the remaining paths (its documented behaviour for this hook).
        Err(webpki::Error::UnknownIssuer)
    };
    // The outcome is always an error (the hook refuses every path); what counts is which
    // anchors were reached on the way.
    let _ = end_entity.verify_for_usage(
        algorithms,
        &anchors,
        intermediates,
        at,
        webpki::KeyUsage::client_auth(),
        None,
        Some(&record_and_keep_looking),
    );
    reached.into_inner()
}

fn parsed(der: &[u8]) -> Option<X509Certificate<'_>> {
    x509_parser::parse_x509_certificate(der)
        .ok()
        .map(|(_, c)| c)
}

/// Indices into `cas` that a CA:TRUE leaf reaches by signatures through `intermediates`
/// (each a CA, valid at `at`).
fn walk_from_ca_leaf(
    leaf: &X509Certificate<'_>,
    intermediates: &[CertificateDer<'_>],
    cas: &[&TrustedCa],
    at: i64,
) -> BTreeSet<usize> {
    let anchors: Vec<(usize, X509Certificate<'_>)> = cas
        .iter()
        .enumerate()
        .filter_map(|(i, ca)| parsed(&ca.der).map(|c| (i, c)))
        .collect();
    let issuers: Vec<X509Certificate<'_>> = intermediates
        .iter()
        .filter_map(|der| parsed(der))
        .filter(|c| c.is_ca() && Validity::of(c).contains(at))
        .collect();
    let mut walk = Walk {
        anchors: &anchors,
        issuers: &issuers,
        budget: SIGNATURE_BUDGET,
        reached: BTreeSet::new(),
    };
    walk.from(leaf, 0);
    walk.reached
}

struct Walk<'a, 'c> {
    anchors: &'a [(usize, X509Certificate<'c>)],
    issuers: &'a [X509Certificate<'c>],
    budget: u32,
    reached: BTreeSet<usize>,
}

impl Walk<'_, '_> {
    /// Whether `issuer` names and signed `cert`, paying for the signature check.
    fn issued(&mut self, cert: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
        if issuer.subject().as_raw() != cert.issuer().as_raw() || self.budget == 0 {
            return false;
        }
        self.budget -= 1;
        cert.verify_signature(Some(issuer.public_key())).is_ok()
    }

    fn from(&mut self, cert: &X509Certificate<'_>, depth: usize) {
        for (index, anchor) in self.anchors {
            if self.issued(cert, anchor) {
                self.reached.insert(*index);
            }
        }
        if depth >= MAX_DEPTH {
            return;
        }
        for issuer in self.issuers {
            // A certificate does not issue itself on the way up (no loops).
            if issuer.as_raw() != cert.as_raw() && self.issued(cert, issuer) {
                self.from(issuer, depth + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ferrohub_protocol::HubName;
    use ferrohub_store::CaCertificateName;

    struct Made {
        der: CertificateDer<'static>,
        key: rcgen::KeyPair,
        params: rcgen::CertificateParams,
    }

    const DAY: i64 = 86_400;
    const NOW: i64 = 1_800_000_000;

    fn make(cn: &str, ca: bool, days: (i64, i64), issuer: Option<&Made>) -> Made {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.not_before = time::OffsetDateTime::from_unix_timestamp(NOW + days.0 * DAY).unwrap();
        params.not_after = time::OffsetDateTime::from_unix_timestamp(NOW + days.1 * DAY).unwrap();
        if ca {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        let cert = match issuer {
            Some(i) => params
                .signed_by(&key, &rcgen::Issuer::from_params(&i.params, &i.key))
                .unwrap(),
            None => params.self_signed(&key).unwrap(),
        };
        Made {
            der: cert.der().clone(),
            key,
            params,
        }
    }

    fn trusted(cas: &[(&Made, i64)]) -> TrustedCaSet {
        TrustedCaSet {
            cas: cas
                .iter()
                .enumerate()
                .map(|(i, (ca, not_after))| TrustedCa {
                    hub: HubName::new("h").unwrap(),
                    name: CaCertificateName::new(format!("ca{i}")).unwrap(),
                    thumbprint: format!("T{i}"),
                    der: ca.der.to_vec(),
                    not_after: *not_after,
                })
                .collect(),
        }
    }

    fn reached(leaf: &Made, intermediates: &[&Made], set: &TrustedCaSet) -> Vec<String> {
        let algorithms = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        let (_, parsed_leaf) = x509_parser::parse_x509_certificate(&leaf.der).unwrap();
        let intermediates: Vec<CertificateDer<'static>> =
            intermediates.iter().map(|c| c.der.clone()).collect();
        issuing_cas(
            &parsed_leaf,
            &leaf.der,
            &intermediates,
            set,
            algorithms.all,
            unix_time(NOW),
        )
    }

    #[test]
    fn a_chain_reaches_its_root_only_with_its_intermediate() {
        let root = make("root", true, (-10, 100), None);
        let intermediate = make("intermediate", true, (-10, 100), Some(&root));
        let leaf = make("dev", false, (-1, 10), Some(&intermediate));
        let set = trusted(&[(&root, NOW + 100 * DAY)]);
        assert_eq!(reached(&leaf, &[&intermediate], &set), ["T0"]);
        assert!(reached(&leaf, &[], &set).is_empty());
    }

    #[test]
    fn every_trusted_ca_on_the_way_is_reported() {
        let root = make("root", true, (-10, 100), None);
        let intermediate = make("intermediate", true, (-10, 100), Some(&root));
        let leaf = make("dev", false, (-1, 10), Some(&intermediate));
        let set = trusted(&[(&root, NOW + 100 * DAY), (&intermediate, NOW + 100 * DAY)]);
        let mut found = reached(&leaf, &[&intermediate], &set);
        found.sort();
        assert_eq!(found, ["T0", "T1"]);
    }

    #[test]
    fn an_expired_trusted_ca_vouches_for_nobody() {
        let root = make("root", true, (-10, 100), None);
        let leaf = make("dev", false, (-1, 10), Some(&root));
        assert!(reached(&leaf, &[], &trusted(&[(&root, NOW - 1)])).is_empty());
    }

    #[test]
    fn a_leaf_outside_its_dates_still_reaches_its_ca_so_connect_can_say_why() {
        let root = make("root", true, (-100, 100), None);
        let expired = make("dev", false, (-30, -1), Some(&root));
        let future = make("dev", false, (2, 30), Some(&root));
        let set = trusted(&[(&root, NOW + 100 * DAY)]);
        assert_eq!(reached(&expired, &[], &set), ["T0"]);
        assert_eq!(reached(&future, &[], &set), ["T0"]);
    }

    #[test]
    fn a_leaf_marked_ca_is_followed_through_ca_intermediates_by_signature() {
        let root = make("root", true, (-10, 100), None);
        let intermediate = make("intermediate", true, (-10, 100), Some(&root));
        let ca_leaf = make("dev", true, (-1, 10), Some(&intermediate));
        let set = trusted(&[(&root, NOW + 100 * DAY)]);
        assert_eq!(reached(&ca_leaf, &[&intermediate], &set), ["T0"]);
        assert!(reached(&ca_leaf, &[], &set).is_empty());
        // An intermediate that is not a CA issues nothing.
        let not_ca = make("intermediate", false, (-10, 100), Some(&root));
        let under_not_ca = make("dev", true, (-1, 10), Some(&not_ca));
        assert!(reached(&under_not_ca, &[&not_ca], &set).is_empty());
    }

    #[test]
    fn a_walk_through_many_look_alike_issuers_ends_without_reaching_anything() {
        let root = make("root", true, (-10, 100), None);
        // 40 CA certificates with the same subject, each claiming to issue the next.
        let look_alikes: Vec<Made> = (0..40)
            .map(|_| make("loop", true, (-10, 100), None))
            .collect();
        let ca_leaf = make("dev", true, (-1, 10), Some(&look_alikes[0]));
        let refs: Vec<&Made> = look_alikes.iter().collect();
        let set = trusted(&[(&root, NOW + 100 * DAY)]);
        // Each look-alike names the leaf's issuer, only one signed it, none leads to the root.
        assert!(reached(&ca_leaf, &refs, &set).is_empty());
    }
}
