//! `/ferrohub/certificates[/{name}]`: the hub's CA certificates (our extension; in Azure this
//! is the ARM management plane's `IotHubs/{hub}/certificates`), with the same JSON shapes,
//! verbs and proof-of-possession steps as ARM.
//!
//! The hub is the one the request authenticates against. Reads need RegistryRead, changes
//! RegistryWrite. Writes take `If-Match` (absent or `*`: unconditional, except that a PUT
//! without it only creates); a 2xx is sent after the change is durable and the trusted-CA
//! snapshot devices are checked against has been rebuilt.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ferrohub_core::ca_certificates::CaCertificateUpload;
use ferrohub_core::certificate::to_pem;
use ferrohub_store::{AccessRights, CaCertificateName, CaCertificateRecord, Precondition};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::auth::Principal;
use crate::devices::{if_match, json_body, json_response, put_status};
use crate::error::ApiError;
use crate::router::ApiState;

#[derive(Debug, Default, Deserialize)]
pub struct CertificateBody {
    properties: Option<CertificateProperties>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CertificateProperties {
    certificate: Option<String>,
    is_verified: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub struct VerificationBody {
    certificate: Option<String>,
}

fn parse_name(raw: &str) -> Result<CaCertificateName, ApiError> {
    CaCertificateName::new(raw).map_err(|e| {
        ApiError::bad_request(format!("The certificate name {raw:?} is not valid: {e}"))
    })
}

/// ARM prints these times in RFC 1123 (`Thu, 12 Oct 2017 19:23:50 GMT`); the store keeps
/// RFC 3339.
fn arm_time(rfc3339: &str) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    OffsetDateTime::parse(rfc3339, &Rfc3339)
        .ok()
        .and_then(|t| t.to_offset(time::UtcOffset::UTC).format(&format).ok())
        .unwrap_or_else(|| rfc3339.to_owned())
}

/// ARM's CertificateDescription (with `verificationCode` when one is pending).
fn certificate_json(record: &CaCertificateRecord) -> Value {
    let mut properties = json!({
        "subject": record.subject,
        "expiry": arm_time(&record.expiry),
        "thumbprint": record.thumbprint,
        "isVerified": record.is_verified,
        "created": arm_time(&record.created_time),
        "updated": arm_time(&record.updated_time),
        "certificate": to_pem(&record.der),
    });
    if let Some(code) = &record.verification_code {
        properties["verificationCode"] = json!(code);
    }
    json!({
        "properties": properties,
        "id": format!("/ferrohub/hubs/{}/certificates/{}", record.hub, record.name),
        "name": record.name.as_str(),
        "etag": record.etag,
        "type": "Microsoft.Devices/IotHubs/Certificates",
    })
}

fn certificate_response(status: StatusCode, record: &CaCertificateRecord) -> Response {
    json_response(status, certificate_json(record), Some(&record.etag))
}

pub async fn list_certificates(
    State(state): State<ApiState>,
    Principal(principal): Principal,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::RegistryRead)?;
    let records = state.hub.list_ca_certificates(&principal.hub).await?;
    let value: Vec<Value> = records.iter().map(certificate_json).collect();
    Ok(json_response(
        StatusCode::OK,
        json!({ "value": value }),
        None,
    ))
}

pub async fn get_certificate(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::RegistryRead)?;
    let name = parse_name(&name)?;
    let record = state.hub.get_ca_certificate(&principal.hub, &name).await?;
    Ok(certificate_response(StatusCode::OK, &record))
}

pub async fn put_certificate(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::RegistryWrite)?;
    let name = parse_name(&name)?;
    let body: CertificateBody = json_body(&body)?;
    let properties = body.properties.unwrap_or_default();
    let certificate = properties.certificate.ok_or_else(|| {
        ApiError::bad_request("properties.certificate (PEM or base64 DER) is required")
    })?;
    let upload = CaCertificateUpload {
        certificate,
        is_verified: properties.is_verified.unwrap_or(false),
    };
    let (record, outcome) = state
        .hub
        .put_ca_certificate(&principal.hub, &name, upload, if_match(&headers))
        .await?;
    Ok(certificate_response(put_status(outcome), &record))
}

pub async fn delete_certificate(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    principal.require(AccessRights::RegistryWrite)?;
    let name = parse_name(&name)?;
    let precondition = if_match(&headers).unwrap_or(Precondition::Any);
    state
        .hub
        .delete_ca_certificate(&principal.hub, &name, precondition)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn generate_verification_code(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::RegistryWrite)?;
    let name = parse_name(&name)?;
    let precondition = if_match(&headers).unwrap_or(Precondition::Any);
    let record = state
        .hub
        .generate_verification_code(&principal.hub, &name, precondition)
        .await?;
    Ok(certificate_response(StatusCode::OK, &record))
}

pub async fn verify_certificate(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::RegistryWrite)?;
    let name = parse_name(&name)?;
    let body: VerificationBody = json_body(&body)?;
    let proof = body.certificate.ok_or_else(|| {
        ApiError::bad_request(
            "certificate (the PEM of a certificate whose CN is the verification code) is required",
        )
    })?;
    let precondition = if_match(&headers).unwrap_or(Precondition::Any);
    let record = state
        .hub
        .verify_ca_certificate(&principal.hub, &name, precondition, &proof)
        .await?;
    Ok(certificate_response(StatusCode::OK, &record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_printed_as_arm_prints_them() {
        assert_eq!(
            arm_time("2017-10-12T19:23:50.0000000Z"),
            "Thu, 12 Oct 2017 19:23:50 GMT"
        );
        assert_eq!(arm_time("not a time"), "not a time");
    }
}
