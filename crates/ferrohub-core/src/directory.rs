//! Which hub a host name reaches, and each hub's shared access policies.
//!
//! Cached in memory because every CONNECT and every REST call consults it; reloaded from the
//! store whenever a hub or policy changes. Host names compare case-insensitively (DNS rules).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::RwLock;

use ferrohub_protocol::HubName;
use ferrohub_store::{HubRecord, SharedAccessPolicy};

#[derive(Debug, Default)]
struct State {
    hubs: Vec<HubRecord>,
    by_host: HashMap<String, HubName>,
    policies: HashMap<HubName, Vec<SharedAccessPolicy>>,
}

/// The cached hub directory.
#[derive(Debug, Default)]
pub struct Directory {
    state: RwLock<State>,
}

impl Directory {
    /// Replaces the cache. `aliases` are extra host names (from `--hostname`) for a hub.
    pub fn replace(
        &self,
        hubs: Vec<HubRecord>,
        policies: Vec<SharedAccessPolicy>,
        aliases: &[(String, HubName)],
    ) {
        let mut by_host = HashMap::new();
        for (host, hub) in aliases {
            by_host.insert(host.to_ascii_lowercase(), hub.clone());
        }
        for h in &hubs {
            by_host.insert(h.hostname.to_ascii_lowercase(), h.name.clone());
        }
        let mut by_hub: HashMap<HubName, Vec<SharedAccessPolicy>> = HashMap::new();
        for p in policies {
            by_hub.entry(p.hub.clone()).or_default().push(p);
        }
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        *state = State {
            hubs,
            by_host,
            policies: by_hub,
        };
    }

    /// The hub answering to `host` (a port suffix is ignored).
    pub fn hub_for_host(&self, host: &str) -> Option<HubName> {
        let host = strip_port(host).to_ascii_lowercase();
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        state.by_host.get(&host).cloned()
    }

    /// The hub a connection or request is addressed to by the name it dialled (HTTP `Host`,
    /// TLS SNI). An IP address or `localhost` names no hub, even when `localhost` is a hub's
    /// host name: local development dials 127.0.0.1 or localhost for every hub, so those
    /// requests are routed by their credentials instead.
    pub fn hub_addressed_by(&self, host: &str) -> Option<HubName> {
        if !names_a_hub(host) {
            return None;
        }
        self.hub_for_host(host)
    }

    pub fn hub(&self, name: &HubName) -> Option<HubRecord> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        state.hubs.iter().find(|h| &h.name == name).cloned()
    }

    pub fn hubs(&self) -> Vec<HubRecord> {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .hubs
            .clone()
    }

    pub fn policy(&self, hub: &HubName, name: &str) -> Option<SharedAccessPolicy> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        state
            .policies
            .get(hub)?
            .iter()
            .find(|p| p.name == name)
            .cloned()
    }

    pub fn policies(&self, hub: &HubName) -> Vec<SharedAccessPolicy> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        state.policies.get(hub).cloned().unwrap_or_default()
    }
}

/// `host:443` → `host`; `[::1]:443` → `[::1]`; a bare IPv6 literal is left alone.
pub fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once("]:")
            .map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Whether `host` (port allowed) can name a hub when dialled: not an IP literal, not
/// `localhost`.
pub fn names_a_hub(host: &str) -> bool {
    let host = strip_port(host);
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let bare = bare.strip_suffix('.').unwrap_or(bare);
    !(bare.is_empty() || bare.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addresses_and_localhost_name_no_hub() {
        for host in [
            "127.0.0.1",
            "127.0.0.1:8443",
            "[::1]:443",
            "::1",
            "LocalHost",
            "localhost:443",
            "localhost.",
            "",
        ] {
            assert!(!names_a_hub(host), "{host}");
        }
        for host in ["hub.example", "HUB.example:443", "localhost.example"] {
            assert!(names_a_hub(host), "{host}");
        }
    }

    #[test]
    fn ports_are_stripped_from_host_names() {
        assert_eq!(strip_port("localhost:443"), "localhost");
        assert_eq!(strip_port("localhost"), "localhost");
        assert_eq!(strip_port("[::1]:443"), "[::1]");
        assert_eq!(strip_port("::1"), "::1");
    }
}
