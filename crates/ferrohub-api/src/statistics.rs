//! `/statistics/devices` and `/statistics/service`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use ferrohub_store::AccessRights;
use serde_json::json;

use crate::auth::Principal;
use crate::devices::json_response;
use crate::error::ApiError;
use crate::router::ApiState;

pub async fn device_statistics(
    State(state): State<ApiState>,
    Principal(principal): Principal,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::RegistryRead)?;
    let counts = state.hub.device_counts(&principal.hub).await?;
    Ok(json_response(
        StatusCode::OK,
        json!({
            "totalDeviceCount": counts.total,
            "enabledDeviceCount": counts.enabled,
            "disabledDeviceCount": counts.disabled,
        }),
        None,
    ))
}

pub async fn service_statistics(
    State(state): State<ApiState>,
    Principal(principal): Principal,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::ServiceConnect)?;
    Ok(json_response(
        StatusCode::OK,
        json!({ "connectedDeviceCount": state.hub.connected_device_count(&principal.hub) }),
        None,
    ))
}
