//! `/devices/{id}`: create, read, update, delete and list device identities.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferrohub_core::registry::PutOutcome;
use ferrohub_protocol::{DeviceId, Identity};
use ferrohub_store::{AccessRights, Precondition};
use serde::Deserialize;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::router::ApiState;
use crate::wire::{IdentityBody, device_json};

pub fn parse_device_id(raw: &str) -> Result<DeviceId, ApiError> {
    DeviceId::new(raw)
        .map_err(|e| ApiError::bad_request(format!("The device id {raw:?} is not valid: {e}")))
}

/// `If-Match` as IoT Hub reads it: absent, `*` or `"*"` mean unconditional.
pub fn if_match(headers: &HeaderMap) -> Option<Precondition> {
    let raw = headers.get(header::IF_MATCH)?.to_str().ok()?.trim();
    let unquoted = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(raw);
    Some(if unquoted == "*" {
        Precondition::Any
    } else {
        Precondition::IfMatch(unquoted.to_owned())
    })
}

/// A JSON body from raw bytes, so a missing or wrong content type still parses and bad JSON
/// gets IoT Hub's 400 rather than axum's text rejection.
pub fn json_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("The request body is not valid JSON: {e}")))
}

/// A JSON answer with IoT Hub's content type and the quoted etag header.
pub fn json_response(status: StatusCode, body: serde_json::Value, etag: Option<&str>) -> Response {
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Some(etag) = etag
        && let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\""))
    {
        headers.insert(header::ETAG, v);
    }
    response
}

pub async fn put_device(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::RegistryWrite)?;
    let device_id = parse_device_id(&id)?;
    let body: IdentityBody = json_body(&body)?;
    if let Some(claimed) = &body.device_id
        && claimed != device_id.as_str()
    {
        return Err(ApiError::bad_request(
            "The deviceId in the body does not match the one in the path",
        ));
    }
    let identity = Identity::device(device_id);
    let spec = body.into_spec()?;
    let (record, _) = put_with_if_match(&state, &principal.hub, &identity, spec, &headers).await?;
    let presence = state.hub.presence().state(&principal.hub, &identity);
    // IoT Hub answers 200 for both create and update; the Python SDK accepts only 200.
    Ok(json_response(
        StatusCode::OK,
        device_json(&record, presence),
        Some(&record.etag),
    ))
}

pub async fn get_device(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::RegistryRead)?;
    let identity = Identity::device(parse_device_id(&id)?);
    let record = state.hub.get_identity(&principal.hub, &identity).await?;
    let presence = state.hub.presence().state(&principal.hub, &identity);
    let mut body = device_json(&record, presence);
    body["cloudToDeviceMessageCount"] = serde_json::json!(
        state
            .hub
            .c2d_queue_depth(&principal.hub, &identity.device_id)
            .await?
    );
    Ok(json_response(StatusCode::OK, body, Some(&record.etag)))
}

pub async fn delete_device(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    principal.require(AccessRights::RegistryWrite)?;
    let identity = Identity::device(parse_device_id(&id)?);
    let precondition = if_match(&headers).unwrap_or(Precondition::Any);
    state
        .hub
        .delete_identity(&principal.hub, &identity, precondition)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    top: Option<usize>,
}

/// Most devices one list call returns (IoT Hub's cap for `GET /devices`).
const MAX_LIST: usize = 1000;

pub async fn list_devices(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::RegistryRead)?;
    let limit = q.top.unwrap_or(MAX_LIST).clamp(1, MAX_LIST);
    let records = state.hub.list_devices(&principal.hub, None, limit).await?;
    let items: Vec<serde_json::Value> = records
        .iter()
        .map(|r| device_json(r, state.hub.presence().state(&principal.hub, &r.identity())))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        serde_json::Value::Array(items),
        None,
    ))
}

/// Used by the module routes so PUT answers 200 on update and 201 on create, as IoT Hub does.
pub fn put_status(outcome: PutOutcome) -> StatusCode {
    match outcome {
        PutOutcome::Created => StatusCode::CREATED,
        PutOutcome::Updated => StatusCode::OK,
    }
}

/// PUT semantics shared by devices and modules: no `If-Match` creates (409 if it exists);
/// `If-Match: *` creates or replaces, because the Python SDK sends it on create as well as
/// update; an etag replaces only that version (412 otherwise).
pub async fn put_with_if_match(
    state: &ApiState,
    hub: &ferrohub_protocol::HubName,
    identity: &Identity,
    spec: ferrohub_core::registry::IdentitySpec,
    headers: &HeaderMap,
) -> Result<(ferrohub_store::DeviceRecord, PutOutcome), ApiError> {
    let precondition = match if_match(headers) {
        Some(Precondition::Any) => match state.hub.get_identity(hub, identity).await {
            Ok(_) => Some(Precondition::Any),
            Err(
                ferrohub_core::HubError::DeviceNotFound(_)
                | ferrohub_core::HubError::ModuleNotFound(..),
            ) => None,
            Err(e) => return Err(e.into()),
        },
        other => other,
    };
    Ok(state
        .hub
        .put_identity(hub, identity, spec, precondition)
        .await?)
}
