//! Certificates for hubs created while the server runs, signed by the development CA.
//!
//! The gateway's certificate resolver asks here when a handshake names a host its start
//! certificate does not cover. Only a hub's host name gets a certificate, so clients cannot
//! make us sign (or remember) names of their choosing. Issued certificates live in the
//! resolver's memory; the next start's certificate covers every hub anyway.

use std::sync::Arc;

use ferrohub_core::Hub;
use ferrohub_gateway::server_cert::{HubCertificates, IssuedCertificate};

use crate::pki::DevCa;

/// The hub directory (which names are hubs) and the CA (signing).
pub struct DevHubCertificates {
    pub hub: Hub,
    pub ca: Arc<DevCa>,
}

impl HubCertificates for DevHubCertificates {
    fn is_hub_host(&self, name: &str) -> bool {
        self.hub.directory().hub_for_host(name).is_some()
    }

    fn issue(&self, name: &str) -> Result<IssuedCertificate, String> {
        let issued = self
            .ca
            .issue_server(&[name.to_owned()])
            .map_err(|e| format!("{e:#}"))?;
        Ok(IssuedCertificate {
            chain: issued.chain,
            key: issued.key,
        })
    }
}
