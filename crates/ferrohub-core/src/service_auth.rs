//! Service authentication: the `Authorization: SharedAccessSignature ...` header the service
//! SDKs send, checked against the hub's shared access policies.
//!
//! `sr` is the hub's host name (Python may append `:port`, encoded), `skn` names the policy,
//! and the signature must come from that policy's primary or secondary key.
//!
//! Which hub a request is for: the hub its `Host` names, when it names one (IoT Hub is one
//! host per hub, and a token for another hub is refused there too); otherwise, for IP
//! addresses, `localhost` and unknown names (local development dials 127.0.0.1), the hub
//! the token's `sr` names. The transport passes the host as plain text; this module knows
//! nothing of HTTP.

use ferrohub_protocol::HubName;
use ferrohub_protocol::sas::SasToken;
use ferrohub_store::{AccessRights, Rights};

use crate::directory::strip_port;
use crate::hub::Hub;

/// An authenticated back end: which hub, which rights.
#[derive(Debug, Clone)]
pub struct ServicePrincipal {
    pub hub: HubName,
    pub policy: String,
    pub rights: Rights,
}

impl ServicePrincipal {
    /// Refuses an operation the policy does not grant (IoT Hub answers 401).
    pub fn require(&self, right: AccessRights) -> Result<(), ServiceAuthError> {
        // RegistryWrite implies RegistryRead, as in IoT Hub.
        let ok = self.rights.contains(right)
            || (right == AccessRights::RegistryRead
                && self.rights.contains(AccessRights::RegistryWrite));
        if ok {
            Ok(())
        } else {
            Err(ServiceAuthError::MissingRight(right))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceAuthError {
    #[error("the Authorization header is missing")]
    Missing,
    #[error("the SAS token is malformed: {0}")]
    Malformed(String),
    #[error("no hub answers to the token's resource {0}")]
    UnknownHub(String),
    #[error(
        "the SAS token is for another hub: its resource {resource} names the hub {token_hub}, but the request was sent to {host}, the hub {addressed_hub}"
    )]
    OtherHub {
        resource: String,
        token_hub: HubName,
        host: String,
        addressed_hub: HubName,
    },
    #[error("the token does not name a shared access policy (skn)")]
    NoPolicy,
    #[error("the shared access policy {0} does not exist")]
    UnknownPolicy(String),
    #[error("the SAS token expired")]
    Expired,
    #[error("the SAS token's signature does not match")]
    BadSignature,
    #[error("the shared access policy lacks the {0:?} right")]
    MissingRight(AccessRights),
}

impl Hub {
    /// Authenticates the `Authorization` header of a request sent to `host` (the HTTP
    /// `Host`, if the request had one).
    pub fn authenticate_service(
        &self,
        authorization: Option<&str>,
        host: Option<&str>,
    ) -> Result<ServicePrincipal, ServiceAuthError> {
        let text = authorization.ok_or(ServiceAuthError::Missing)?;
        let token =
            SasToken::parse(text).map_err(|e| ServiceAuthError::Malformed(e.to_string()))?;
        let resource_host = strip_port(token.resource.split('/').next().unwrap_or_default());
        let hub = self
            .directory()
            .hub_for_host(resource_host)
            .ok_or_else(|| ServiceAuthError::UnknownHub(token.resource.clone()))?;
        if let Some(host) = host
            && let Some(addressed_hub) = self.directory().hub_addressed_by(host)
            && addressed_hub != hub
        {
            return Err(ServiceAuthError::OtherHub {
                resource: token.resource.clone(),
                token_hub: hub,
                host: host.to_owned(),
                addressed_hub,
            });
        }
        let name = token.key_name.clone().ok_or(ServiceAuthError::NoPolicy)?;
        let policy = self
            .directory()
            .policy(&hub, &name)
            .ok_or_else(|| ServiceAuthError::UnknownPolicy(name.clone()))?;
        if i64::try_from(token.expiry).unwrap_or(i64::MAX) <= self.now().unix_timestamp() {
            return Err(ServiceAuthError::Expired);
        }
        if !(token.is_signed_by(&policy.primary_key) || token.is_signed_by(&policy.secondary_key)) {
            return Err(ServiceAuthError::BadSignature);
        }
        Ok(ServicePrincipal {
            hub,
            policy: name,
            rights: policy.rights,
        })
    }
}
