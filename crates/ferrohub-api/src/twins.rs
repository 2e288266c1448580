//! `GET/PATCH/PUT /twins/{id}` and `/twins/{id}/modules/{mid}`: device and module twins.
//!
//! PATCH merges tags and desired, PUT replaces them; `If-Match` carries the (quoted) twin etag
//! and a stale one is 412. A desired change is pushed to the connected device by the hub.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ferrohub_core::twins::TwinWrite;
use ferrohub_protocol::{Identity, ModuleId};
use ferrohub_store::{AccessRights, Precondition};
use serde_json::Value;

use crate::auth::Principal;
use crate::devices::{if_match, json_response, parse_device_id};
use crate::error::ApiError;
use crate::router::ApiState;

fn module_identity(device: &str, module: &str) -> Result<Identity, ApiError> {
    Ok(Identity {
        device_id: parse_device_id(device)?,
        module_id: Some(ModuleId::new(module).map_err(|e| {
            ApiError::bad_request(format!("The module id {module:?} is not valid: {e}"))
        })?),
    })
}

fn respond(twin: Value) -> Response {
    let etag = twin["etag"].as_str().map(str::to_owned);
    json_response(StatusCode::OK, twin, etag.as_deref())
}

async fn get(
    state: &ApiState,
    principal: &ferrohub_core::service_auth::ServicePrincipal,
    identity: Identity,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::RegistryRead)?;
    Ok(respond(
        state.hub.service_twin(&principal.hub, &identity).await?,
    ))
}

async fn write(
    state: &ApiState,
    principal: &ferrohub_core::service_auth::ServicePrincipal,
    identity: Identity,
    headers: &HeaderMap,
    body: &[u8],
    mode: TwinWrite,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::RegistryWrite)?;
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("The request body is not valid JSON: {e}")))?;
    let etag = match if_match(headers) {
        Some(Precondition::IfMatch(e)) => Some(e),
        _ => None,
    };
    Ok(respond(
        state
            .hub
            .write_twin(&principal.hub, &identity, &body, mode, etag.as_deref())
            .await?,
    ))
}

pub async fn get_device_twin(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    get(&state, &principal, Identity::device(parse_device_id(&id)?)).await
}

pub async fn patch_device_twin(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    write(
        &state,
        &principal,
        Identity::device(parse_device_id(&id)?),
        &headers,
        &body,
        TwinWrite::Patch,
    )
    .await
}

pub async fn put_device_twin(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    write(
        &state,
        &principal,
        Identity::device(parse_device_id(&id)?),
        &headers,
        &body,
        TwinWrite::Replace,
    )
    .await
}

pub async fn get_module_twin(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path((id, module)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    get(&state, &principal, module_identity(&id, &module)?).await
}

pub async fn patch_module_twin(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path((id, module)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    write(
        &state,
        &principal,
        module_identity(&id, &module)?,
        &headers,
        &body,
        TwinWrite::Patch,
    )
    .await
}

pub async fn put_module_twin(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path((id, module)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    write(
        &state,
        &principal,
        module_identity(&id, &module)?,
        &headers,
        &body,
        TwinWrite::Replace,
    )
    .await
}
