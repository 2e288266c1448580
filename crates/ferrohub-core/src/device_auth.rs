//! Device authentication: CONNECT credentials to an authenticated identity, or a refusal
//! that says exactly why (the gateway maps it to a CONNACK code, the log keeps the reason).
//!
//! Rules (`spec/wire.md` §1, hostile group C): the hub is found by the username's host; the
//! SAS `sr` must cover the identity's resource by whole path segments; without `skn` the
//! token must be signed by the identity's own primary or secondary key; with `skn` by that
//! policy's key, and the policy must grant DeviceConnect; `se` must be in the future; a hub
//! with `disableDeviceSAS` refuses SAS from devices (not modules, as in IoT Hub).
//!
//! Certificates (hostile C11): the TLS layer has already checked the handshake signature and,
//! for anything not self-signed, that the chain leads to a verified CA of some hub. Here a
//! `selfSigned` identity needs its thumbprint; a `certificateAuthority` identity needs the
//! chain to lead to a verified CA of *its own* hub, a leaf that is not a CA, and a subject
//! CN equal to the device id (`deviceId/moduleId` for a module, as IoT Hub expects).

use std::time::Duration;

use ferrohub_protocol::sas::SasToken;
use ferrohub_protocol::{HubName, Identity};
use ferrohub_store::{AccessRights, AuthenticationType, DeviceRecord, DeviceStatus};

use crate::hub::Hub;
use crate::registered_thumbprints::normalise_thumbprint;

/// Why a device could not connect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceAuthError {
    #[error("no hub answers to the host name {0}")]
    UnknownHub(String),
    #[error(
        "no password (SAS token) was given and certificate authentication is not configured for this identity"
    )]
    NoCredentials,
    #[error("the SAS token is malformed: {0}")]
    MalformedToken(String),
    #[error("the SAS token's resource {0} does not cover this identity")]
    WrongResource(String),
    #[error("the SAS token expired")]
    Expired,
    #[error("the SAS token's signature does not match")]
    BadSignature,
    #[error("the SAS token names the policy {0}, which does not exist")]
    UnknownPolicy(String),
    #[error("the policy {0} does not grant DeviceConnect")]
    PolicyLacksDeviceConnect(String),
    #[error("the identity is not registered")]
    NotRegistered,
    #[error("the client certificate was refused: {0}")]
    CertificateRejected(String),
    #[error("the client's address is not allowed by the IP filter")]
    AddressNotAllowed,
    #[error("the identity is disabled")]
    Disabled,
    #[error(
        "device SAS authentication is disabled for this hub (disableDeviceSAS); the device must use an X.509 certificate"
    )]
    DeviceSasDisabled,
    #[error(
        "module SAS authentication is disabled for this hub (disableModuleSAS); the module must use an X.509 certificate"
    )]
    ModuleSasDisabled,
    #[error("the registry is unavailable: {0}")]
    Unavailable(String),
}

/// How the identity proved itself, as IoT Hub reports in `iothub-connection-auth-method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    DeviceKey,
    Policy,
    /// A self-signed device certificate matched by thumbprint.
    Certificate,
    /// A device certificate issued under one of the hub's verified CA certificates.
    CertificateAuthority,
}

/// A successful device authentication.
#[derive(Debug, Clone)]
pub struct AuthenticatedDevice {
    pub hub: HubName,
    pub identity: Identity,
    pub generation_id: String,
    pub method: AuthMethod,
    /// Time left on the token; `None` for certificate authentication (no token to expire).
    pub valid_for: Option<Duration>,
}

impl AuthenticatedDevice {
    /// The JSON IoT Hub puts in `iothub-connection-auth-method`.
    pub fn auth_method_json(&self) -> String {
        let scope = if self.identity.module_id.is_some() {
            "module"
        } else {
            "device"
        };
        let (scope, kind, issuer) = match self.method {
            AuthMethod::DeviceKey => (scope, "sas", "iothub"),
            AuthMethod::Policy => ("hub", "sas", "iothub"),
            // IoT Hub reports both X.509 kinds alike: the certificate was issued outside it.
            AuthMethod::Certificate | AuthMethod::CertificateAuthority => {
                (scope, "x509Certificate", "external")
            }
        };
        format!(
            r#"{{"scope":"{scope}","type":"{kind}","issuer":"{issuer}","acceptingIpFilterRule":null}}"#
        )
    }
}

/// The device certificate presented in the TLS handshake, as the TLS layer judged it.
#[derive(Debug, Clone, Copy)]
pub struct CertificateCredentials<'a> {
    /// Hex SHA-1 and SHA-256 of the leaf certificate's DER.
    pub sha1: &'a str,
    pub sha256: &'a str,
    /// Why the certificate cannot authenticate anyone (malformed, outside its validity
    /// period), if so.
    pub problem: Option<&'a str>,
    /// The leaf's subject common name.
    pub common_name: Option<&'a str>,
    /// The leaf's basic constraints say CA:TRUE.
    pub is_ca: bool,
    /// Uppercase hex SHA-1 thumbprints of the verified CA certificates the chain was
    /// verified to; empty for a self-signed certificate.
    pub issuing_cas: &'a [String],
}

/// Thumbprints compare case-insensitively, ignoring `:` and spaces (as the portal shows them).
fn same_thumbprint(registered: &str, presented: &str) -> bool {
    let registered = normalise_thumbprint(registered);
    !registered.is_empty() && registered == normalise_thumbprint(presented)
}

/// IoT Hub's `selfSigned` authentication: the leaf's thumbprint must be the identity's
/// primary or secondary thumbprint.
fn check_thumbprint(
    record: &DeviceRecord,
    certificate: &CertificateCredentials<'_>,
) -> Result<(), DeviceAuthError> {
    let auth = &record.authentication;
    let matches = [&auth.primary_thumbprint, &auth.secondary_thumbprint]
        .into_iter()
        .flatten()
        .any(|t| same_thumbprint(t, certificate.sha1) || same_thumbprint(t, certificate.sha256));
    if matches {
        Ok(())
    } else {
        Err(DeviceAuthError::CertificateRejected(
            "the certificate's thumbprint matches neither registered thumbprint".into(),
        ))
    }
}

impl Hub {
    /// Authenticates a CONNECT without password by the device certificate: `selfSigned`
    /// identities by thumbprint, `certificateAuthority` identities by issuing CA and CN.
    pub async fn authenticate_device_certificate(
        &self,
        host: &str,
        identity: &Identity,
        certificate: CertificateCredentials<'_>,
    ) -> Result<AuthenticatedDevice, DeviceAuthError> {
        let hub = self
            .directory()
            .hub_for_host(host)
            .ok_or_else(|| DeviceAuthError::UnknownHub(host.to_owned()))?;
        if let Some(problem) = certificate.problem {
            return Err(DeviceAuthError::CertificateRejected(problem.to_owned()));
        }
        let record = self
            .store()
            .get_identity(hub.clone(), identity.clone())
            .await
            .map_err(|e| DeviceAuthError::Unavailable(e.to_string()))?
            .ok_or(DeviceAuthError::NotRegistered)?;
        let method = match record.authentication.kind {
            AuthenticationType::SelfSigned => {
                check_thumbprint(&record, &certificate)?;
                AuthMethod::Certificate
            }
            AuthenticationType::CertificateAuthority => {
                self.check_issued_by_hub_ca(&hub, identity, &certificate)?;
                AuthMethod::CertificateAuthority
            }
            _ => return Err(DeviceAuthError::NoCredentials),
        };
        self.check_enabled(&hub, &record).await?;
        Ok(AuthenticatedDevice {
            hub,
            identity: identity.clone(),
            generation_id: record.generation_id,
            method,
            valid_for: None,
        })
    }

    /// IoT Hub's CA-signed authentication, after the TLS layer verified the chain.
    fn check_issued_by_hub_ca(
        &self,
        hub: &HubName,
        identity: &Identity,
        certificate: &CertificateCredentials<'_>,
    ) -> Result<(), DeviceAuthError> {
        // Checked against the current snapshot, so a CA deleted since the handshake no
        // longer counts.
        if !self
            .trusted_cas()
            .snapshot()
            .vouches_for(hub, certificate.issuing_cas)
        {
            return Err(DeviceAuthError::CertificateRejected(
                "the certificate is not issued under a verified CA certificate of this hub".into(),
            ));
        }
        if certificate.is_ca {
            return Err(DeviceAuthError::CertificateRejected(
                "the certificate is a CA certificate (basic constraints CA:TRUE), which cannot authenticate a device".into(),
            ));
        }
        let expected = match &identity.module_id {
            Some(module) => format!("{}/{}", identity.device_id.as_str(), module.as_str()),
            None => identity.device_id.as_str().to_owned(),
        };
        if certificate.common_name != Some(expected.as_str()) {
            return Err(DeviceAuthError::CertificateRejected(format!(
                "the certificate's subject CN {:?} is not the identity {expected:?}",
                certificate.common_name.unwrap_or_default()
            )));
        }
        Ok(())
    }

    /// Authenticates a CONNECT: `host` from the username, `password` the SAS token text.
    pub async fn authenticate_device(
        &self,
        host: &str,
        identity: &Identity,
        password: Option<&[u8]>,
    ) -> Result<AuthenticatedDevice, DeviceAuthError> {
        let hub = self
            .directory()
            .hub_for_host(host)
            .ok_or_else(|| DeviceAuthError::UnknownHub(host.to_owned()))?;
        let text = password.ok_or(DeviceAuthError::NoCredentials)?;
        // IoT Hub's disableDeviceSAS covers devices (their keys and policy tokens alike),
        // disableModuleSAS modules.
        if let Some(settings) = self.directory().hub(&hub) {
            match identity.module_id {
                None if settings.disable_device_sas => {
                    return Err(DeviceAuthError::DeviceSasDisabled);
                }
                Some(_) if settings.disable_module_sas => {
                    return Err(DeviceAuthError::ModuleSasDisabled);
                }
                _ => {}
            }
        }
        let text = std::str::from_utf8(text)
            .map_err(|_| DeviceAuthError::MalformedToken("not UTF-8".into()))?;
        let token =
            SasToken::parse(text).map_err(|e| DeviceAuthError::MalformedToken(e.to_string()))?;
        // The token may name the hub by any of its host names (an alias from `--hostname`).
        let token_host = token.resource.split('/').next().unwrap_or_default();
        if self.directory().hub_for_host(token_host).as_ref() != Some(&hub) {
            return Err(DeviceAuthError::WrongResource(token.resource.clone()));
        }
        let target = format!("{}/{}", token_host, identity.resource_path());
        if !token.covers(&target) {
            return Err(DeviceAuthError::WrongResource(token.resource.clone()));
        }
        let now = self.now().unix_timestamp();
        let remaining = i64::try_from(token.expiry)
            .unwrap_or(i64::MAX)
            .saturating_sub(now);
        if remaining <= 0 {
            return Err(DeviceAuthError::Expired);
        }
        let record = self
            .store()
            .get_identity(hub.clone(), identity.clone())
            .await
            .map_err(|e| DeviceAuthError::Unavailable(e.to_string()))?
            .ok_or(DeviceAuthError::NotRegistered)?;
        let method = self.check_signature(&hub, &token, &record)?;
        self.check_enabled(&hub, &record).await?;
        Ok(AuthenticatedDevice {
            hub,
            identity: identity.clone(),
            generation_id: record.generation_id,
            method,
            valid_for: Some(Duration::from_secs(u64::try_from(remaining).unwrap_or(0))),
        })
    }

    fn check_signature(
        &self,
        hub: &HubName,
        token: &SasToken,
        record: &DeviceRecord,
    ) -> Result<AuthMethod, DeviceAuthError> {
        match &token.key_name {
            Some(name) => {
                let policy = self
                    .directory()
                    .policy(hub, name)
                    .ok_or_else(|| DeviceAuthError::UnknownPolicy(name.clone()))?;
                if !policy.rights.contains(AccessRights::DeviceConnect) {
                    return Err(DeviceAuthError::PolicyLacksDeviceConnect(name.clone()));
                }
                if token.is_signed_by(&policy.primary_key)
                    || token.is_signed_by(&policy.secondary_key)
                {
                    Ok(AuthMethod::Policy)
                } else {
                    Err(DeviceAuthError::BadSignature)
                }
            }
            None => {
                let auth = &record.authentication;
                if auth.kind != AuthenticationType::Sas {
                    return Err(DeviceAuthError::BadSignature);
                }
                let signed = [&auth.primary_key, &auth.secondary_key]
                    .into_iter()
                    .flatten()
                    .any(|k| token.is_signed_by(k));
                if signed {
                    Ok(AuthMethod::DeviceKey)
                } else {
                    Err(DeviceAuthError::BadSignature)
                }
            }
        }
    }

    /// A module of a disabled device is refused too.
    async fn check_enabled(
        &self,
        hub: &HubName,
        record: &DeviceRecord,
    ) -> Result<(), DeviceAuthError> {
        if record.status == DeviceStatus::Disabled {
            return Err(DeviceAuthError::Disabled);
        }
        if record.module_id.is_some() {
            let device = self
                .store()
                .get_identity(hub.clone(), Identity::device(record.device_id.clone()))
                .await
                .map_err(|e| DeviceAuthError::Unavailable(e.to_string()))?
                .ok_or(DeviceAuthError::NotRegistered)?;
            if device.status == DeviceStatus::Disabled {
                return Err(DeviceAuthError::Disabled);
            }
        }
        Ok(())
    }
}
