//! A hub's CA certificates (IoT Hub's "certificates" resource): upload, proof of
//! possession, deletion, and keeping the trusted-CA snapshot in step with the store.
//!
//! Rules, as IoT Hub applies them: a certificate is uploaded unverified unless the caller
//! asserts `isVerified`; `generateVerificationCode` issues a random code; `verify` takes a
//! certificate whose subject CN is that code and which the CA's key signed, and marks the
//! CA verified. Only verified CAs vouch for `certificateAuthority` devices. Replacing a
//! certificate resets its proof. Every write gets a new etag; If-Match guards each one.

use ferrohub_protocol::HubName;
use ferrohub_store::{CaCertificateName, CaCertificateRecord, Precondition, StoreError};
use ring::rand::{SecureRandom, SystemRandom};

use crate::certificate::{check_proof_of_possession, parse_certificate};
use crate::clock::format_time;
use crate::error::HubError;
use crate::hub::Hub;
use crate::keys::new_etag;
use crate::registry::PutOutcome;
use crate::trusted_cas::{TrustedCa, TrustedCaSet};

/// What a caller uploads.
#[derive(Debug, Clone)]
pub struct CaCertificateUpload {
    /// PEM, or base64 of the DER.
    pub certificate: String,
    /// ARM lets the uploader assert the proof of possession instead of performing it.
    pub is_verified: bool,
}

/// A fresh verification code: 20 random bytes as uppercase hex (fits a 64-character CN).
fn new_verification_code() -> String {
    let mut bytes = [0u8; 20];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        // No OS entropy: a UUID still makes the code unguessable enough for its purpose
        // (it only names the proof certificate; the signature is the proof).
        bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn not_found(name: &CaCertificateName) -> HubError {
    HubError::CertificateNotFound(name.to_string())
}

impl Hub {
    pub async fn list_ca_certificates(
        &self,
        hub: &HubName,
    ) -> Result<Vec<CaCertificateRecord>, HubError> {
        Ok(self.store().list_ca_certificates(hub.clone()).await?)
    }

    pub async fn get_ca_certificate(
        &self,
        hub: &HubName,
        name: &CaCertificateName,
    ) -> Result<CaCertificateRecord, HubError> {
        self.store()
            .get_ca_certificate(hub.clone(), name.clone())
            .await?
            .ok_or_else(|| not_found(name))
    }

    /// Creates (no precondition, or `*` when absent) or replaces (a precondition, when the
    /// certificate exists) a CA certificate. A replacement starts over: no code, and
    /// verified only if the caller says so.
    pub async fn put_ca_certificate(
        &self,
        hub: &HubName,
        name: &CaCertificateName,
        upload: CaCertificateUpload,
        precondition: Option<Precondition>,
    ) -> Result<(CaCertificateRecord, PutOutcome), HubError> {
        let parsed = parse_certificate(&upload.certificate)
            .map_err(|e| HubError::InvalidArgument(format!("The certificate is refused: {e}")))?;
        let now = self.now();
        if parsed.not_after < now {
            return Err(HubError::InvalidArgument(format!(
                "The certificate expired at {}",
                format_time(parsed.not_after)
            )));
        }
        let existing = self
            .store()
            .get_ca_certificate(hub.clone(), name.clone())
            .await?;
        let mut record = CaCertificateRecord {
            hub: hub.clone(),
            name: name.clone(),
            der: parsed.der,
            subject: parsed.subject,
            thumbprint: parsed.thumbprint,
            expiry: format_time(parsed.not_after),
            is_verified: upload.is_verified,
            etag: new_etag(),
            verification_code: None,
            created_time: format_time(now),
            updated_time: format_time(now),
        };
        let outcome = match (existing, precondition) {
            (None, None | Some(Precondition::Any)) => {
                self.store()
                    .create_ca_certificate(record.clone())
                    .await
                    .map_err(|e| match e {
                        StoreError::Conflict => {
                            HubError::CertificateAlreadyExists(name.to_string())
                        }
                        StoreError::NotFound => HubError::HubNotFound(hub.to_string()),
                        other => other.into(),
                    })?;
                PutOutcome::Created
            }
            (None, Some(Precondition::IfMatch(_))) => return Err(not_found(name)),
            // ARM: an existing certificate is replaced only with its etag (or `*`).
            (Some(_), None) => return Err(HubError::CertificateAlreadyExists(name.to_string())),
            (Some(old), Some(precondition)) => {
                record.created_time = old.created_time;
                self.store()
                    .update_ca_certificate(record.clone(), precondition)
                    .await
                    .map_err(|e| match e {
                        StoreError::NotFound => not_found(name),
                        other => other.into(),
                    })?;
                PutOutcome::Updated
            }
        };
        self.rebuild_trusted_cas().await?;
        Ok((record, outcome))
    }

    /// Issues a new verification code (replacing any earlier one).
    pub async fn generate_verification_code(
        &self,
        hub: &HubName,
        name: &CaCertificateName,
        precondition: Precondition,
    ) -> Result<CaCertificateRecord, HubError> {
        let current = self.get_ca_certificate(hub, name).await?;
        if !precondition.allows(&current.etag) {
            return Err(HubError::PreconditionFailed);
        }
        let record = CaCertificateRecord {
            verification_code: Some(new_verification_code()),
            etag: new_etag(),
            updated_time: format_time(self.now()),
            ..current.clone()
        };
        self.replace_if_unchanged(&current, record.clone()).await?;
        Ok(record)
    }

    /// Completes the proof of possession with `proof` (PEM or base64 DER).
    pub async fn verify_ca_certificate(
        &self,
        hub: &HubName,
        name: &CaCertificateName,
        precondition: Precondition,
        proof: &str,
    ) -> Result<CaCertificateRecord, HubError> {
        let current = self.get_ca_certificate(hub, name).await?;
        if !precondition.allows(&current.etag) {
            return Err(HubError::PreconditionFailed);
        }
        let code = current.verification_code.as_deref().ok_or_else(|| {
            HubError::InvalidArgument(
                "No verification code has been generated for this certificate; call generateVerificationCode first".into(),
            )
        })?;
        check_proof_of_possession(&current.der, proof, code).map_err(|e| {
            HubError::InvalidArgument(format!("The proof of possession failed: {e}"))
        })?;
        let record = CaCertificateRecord {
            is_verified: true,
            verification_code: None,
            etag: new_etag(),
            updated_time: format_time(self.now()),
            ..current.clone()
        };
        self.replace_if_unchanged(&current, record.clone()).await?;
        self.rebuild_trusted_cas().await?;
        Ok(record)
    }

    pub async fn delete_ca_certificate(
        &self,
        hub: &HubName,
        name: &CaCertificateName,
        precondition: Precondition,
    ) -> Result<(), HubError> {
        self.store()
            .delete_ca_certificate(hub.clone(), name.clone(), precondition)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => not_found(name),
                other => other.into(),
            })?;
        self.rebuild_trusted_cas().await?;
        Ok(())
    }

    /// Writes `record` only if the certificate is still the one `current` was read as, so a
    /// code or a proof never lands on a certificate that was replaced meanwhile.
    async fn replace_if_unchanged(
        &self,
        current: &CaCertificateRecord,
        record: CaCertificateRecord,
    ) -> Result<(), HubError> {
        self.store()
            .update_ca_certificate(record, Precondition::IfMatch(current.etag.clone()))
            .await
            .map_err(|e| match e {
                StoreError::NotFound => not_found(&current.name),
                other => other.into(),
            })
    }

    /// Reloads every hub's verified CA certificates into the snapshot the TLS layer reads.
    pub(crate) async fn rebuild_trusted_cas(&self) -> Result<(), HubError> {
        let _one_at_a_time = self.trusted_cas().rebuilding().await;
        let mut cas = Vec::new();
        for hub in self.store().hubs().await? {
            let records = self.store().list_ca_certificates(hub.name).await?;
            cas.extend(records.iter().filter_map(TrustedCa::from_record));
        }
        self.trusted_cas().replace(TrustedCaSet { cas });
        Ok(())
    }
}
