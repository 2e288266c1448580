//! IoT Hub's IP filter: ordered accept/reject rules on the client address, first match wins.
//!
//! A rejected client gets the same answer as any unauthorised one (CONNACK 5 over MQTT, 401
//! over HTTPS), never the rule's name. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are
//! matched as the IPv4 address they carry. Only the socket's address is used: headers such
//! as `X-Forwarded-For` are never read.

use std::net::IpAddr;

/// What a rule does with a matching address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterAction {
    Accept,
    Reject,
}

/// One rule: a name (for the operator, never shown to clients), an action, a CIDR mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterRule {
    pub name: String,
    pub action: FilterAction,
    network: IpAddr,
    prefix: u8,
}

/// Why a rule's mask was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the IP filter mask {0:?} is not an address or CIDR block such as 10.0.0.0/8")]
pub struct BadMask(pub String);

impl FilterRule {
    /// `mask` is an address or a CIDR block (`10.0.0.0/8`, `2001:db8::/32`).
    pub fn new(name: impl Into<String>, action: FilterAction, mask: &str) -> Result<Self, BadMask> {
        let bad = || BadMask(mask.to_owned());
        let (addr, prefix) = match mask.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (mask, None),
        };
        let network = normalise(addr.trim().parse::<IpAddr>().map_err(|_| bad())?);
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Self {
            name: name.into(),
            action,
            network,
            prefix,
        })
    }

    fn matches(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => same_prefix(&n.octets(), &a.octets(), self.prefix),
            (IpAddr::V6(n), IpAddr::V6(a)) => same_prefix(&n.octets(), &a.octets(), self.prefix),
            _ => false,
        }
    }
}

fn normalise(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn same_prefix(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if a.get(..full) != b.get(..full) {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    match (a.get(full), b.get(full)) {
        (Some(x), Some(y)) => x & mask == y & mask,
        _ => false,
    }
}

/// The ordered rules; with none, every address is accepted.
#[derive(Debug, Clone, Default)]
pub struct IpFilter {
    rules: Vec<FilterRule>,
}

impl IpFilter {
    pub fn new(rules: Vec<FilterRule>) -> Self {
        Self { rules }
    }

    /// True when `ip` may connect: the first matching rule decides; no match accepts.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = normalise(ip);
        self.rules
            .iter()
            .find(|r| r.matches(ip))
            .is_none_or(|r| r.action == FilterAction::Accept)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_first_matching_rule_wins() {
        let f = IpFilter::new(vec![
            FilterRule::new("office", FilterAction::Accept, "10.1.0.0/16").unwrap(),
            FilterRule::new("rest", FilterAction::Reject, "0.0.0.0/0").unwrap(),
        ]);
        assert!(f.allows(ip("10.1.2.3")));
        assert!(!f.allows(ip("10.2.0.1")));
        assert!(!f.allows(ip("192.0.2.1")));
        assert!(
            f.allows(ip("2001:db8::1")),
            "IPv6 is not covered by an IPv4 rule"
        );
    }

    #[test]
    fn ipv4_mapped_ipv6_addresses_match_ipv4_rules() {
        let f = IpFilter::new(vec![
            FilterRule::new("one", FilterAction::Reject, "192.0.2.7").unwrap(),
        ]);
        assert!(!f.allows(ip("::ffff:192.0.2.7")));
        assert!(f.allows(ip("::ffff:192.0.2.8")));
    }

    #[test]
    fn ipv6_prefixes_and_odd_prefix_lengths_match_bitwise() {
        let f = IpFilter::new(vec![
            FilterRule::new("v6", FilterAction::Reject, "2001:db8::/33").unwrap(),
            FilterRule::new("v4", FilterAction::Reject, "198.51.100.128/25").unwrap(),
        ]);
        assert!(!f.allows(ip("2001:db8:7fff::1")));
        assert!(f.allows(ip("2001:db8:8000::1")));
        assert!(!f.allows(ip("198.51.100.200")));
        assert!(f.allows(ip("198.51.100.100")));
    }

    #[test]
    fn bad_masks_are_refused() {
        for mask in ["10.0.0.0/33", "nonsense", "10.0.0.0/x", "::/129"] {
            assert!(
                FilterRule::new("r", FilterAction::Accept, mask).is_err(),
                "{mask}"
            );
        }
        assert!(IpFilter::default().allows(ip("203.0.113.9")));
    }
}
