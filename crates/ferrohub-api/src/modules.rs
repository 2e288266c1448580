//! `/devices/{id}/modules/{mid}`: module identity CRUD and listing.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ferrohub_protocol::{Identity, ModuleId};
use ferrohub_store::{AccessRights, Precondition};

use crate::auth::Principal;
use crate::devices::{
    if_match, json_body, json_response, parse_device_id, put_status, put_with_if_match,
};
use crate::error::ApiError;
use crate::router::ApiState;
use crate::wire::{IdentityBody, module_json};

fn module_identity(device: &str, module: &str) -> Result<Identity, ApiError> {
    Ok(Identity {
        device_id: parse_device_id(device)?,
        module_id: Some(ModuleId::new(module).map_err(|e| {
            ApiError::bad_request(format!("The module id {module:?} is not valid: {e}"))
        })?),
    })
}

pub async fn put_module(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path((device, module)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::RegistryWrite)?;
    let identity = module_identity(&device, &module)?;
    let body: IdentityBody = json_body(&body)?;
    if body.module_id.as_deref().is_some_and(|m| m != module)
        || body.device_id.as_deref().is_some_and(|d| d != device)
    {
        return Err(ApiError::bad_request(
            "The ids in the body do not match the ones in the path",
        ));
    }
    let spec = body.into_spec()?;
    let (record, outcome) =
        put_with_if_match(&state, &principal.hub, &identity, spec, &headers).await?;
    let presence = state.hub.presence().state(&principal.hub, &identity);
    Ok(json_response(
        put_status(outcome),
        module_json(&record, presence),
        Some(&record.etag),
    ))
}

pub async fn get_module(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path((device, module)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::RegistryRead)?;
    let identity = module_identity(&device, &module)?;
    let record = state.hub.get_identity(&principal.hub, &identity).await?;
    let presence = state.hub.presence().state(&principal.hub, &identity);
    Ok(json_response(
        StatusCode::OK,
        module_json(&record, presence),
        Some(&record.etag),
    ))
}

pub async fn delete_module(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path((device, module)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    principal.require(AccessRights::RegistryWrite)?;
    let identity = module_identity(&device, &module)?;
    let precondition = if_match(&headers).unwrap_or(Precondition::Any);
    state
        .hub
        .delete_identity(&principal.hub, &identity, precondition)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_modules(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(device): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::RegistryRead)?;
    let device_id = parse_device_id(&device)?;
    let records = state.hub.list_modules(&principal.hub, &device_id).await?;
    let items: Vec<serde_json::Value> = records
        .iter()
        .map(|r| module_json(r, state.hub.presence().state(&principal.hub, &r.identity())))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        serde_json::Value::Array(items),
        None,
    ))
}
