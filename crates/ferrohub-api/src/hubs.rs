//! `POST /ferrohub/hubs`: create another hosted hub (our extension). Needs the owner policy
//! of the hub the request authenticates against.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use ferrohub_protocol::HubName;
use ferrohub_store::{AccessRights, Rights};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Principal;
use crate::devices::{json_body, json_response};
use crate::error::ApiError;
use crate::router::ApiState;

#[derive(Debug, Default, Deserialize)]
pub struct CreateHub {
    name: String,
    hostname: String,
}

pub async fn create_hub(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    if principal.rights != Rights::all() {
        return Err(ferrohub_core::service_auth::ServiceAuthError::MissingRight(
            AccessRights::RegistryWrite,
        )
        .into());
    }
    let body: CreateHub = json_body(&body)?;
    let name = HubName::new(body.name.clone()).map_err(|e| {
        ApiError::bad_request(format!("The hub name {:?} is not valid: {e}", body.name))
    })?;
    if body.hostname.is_empty() || body.hostname.contains(['/', ' ', ':']) {
        return Err(ApiError::bad_request("The hostname must be a DNS name"));
    }
    let record = state.hub.create_hub(&name, &body.hostname).await?;
    Ok(json_response(
        StatusCode::CREATED,
        json!({ "name": record.name, "hostname": record.hostname, "createdTime": record.created_time }),
        None,
    ))
}
