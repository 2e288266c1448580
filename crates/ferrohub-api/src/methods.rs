//! `POST /twins/{id}/methods` and `/twins/{id}/modules/{mid}/methods`: direct methods, as
//! the service SDKs call them.
//!
//! Node always sends all four fields (timeouts may be `null`); Python omits what it lacks and
//! sends `""` for a missing payload. The answer is `{"status": <device status>, "payload":
//! <device JSON>}`; errors are 404103 DeviceNotOnline, 504101 GatewayTimeout, 404001.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use ferrohub_core::methods::{DEFAULT_RESPONSE_TIMEOUT, MethodInvocation};
use ferrohub_protocol::{Identity, ModuleId};
use ferrohub_store::AccessRights;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::devices::{json_body, json_response, parse_device_id};
use crate::error::ApiError;
use crate::router::ApiState;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodBody {
    method_name: Option<String>,
    payload: Option<Value>,
    response_timeout_in_seconds: Option<Value>,
    connect_timeout_in_seconds: Option<Value>,
}

/// A timeout field: absent or `null` takes the default; otherwise whole seconds.
fn seconds(value: Option<&Value>, default: Duration, field: &str) -> Result<Duration, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_u64().map(Duration::from_secs).ok_or_else(|| {
            ApiError::bad_request(format!("{field} must be a whole number of seconds"))
        }),
    }
}

async fn invoke(
    state: ApiState,
    principal: ferrohub_core::service_auth::ServicePrincipal,
    identity: Identity,
    body: &[u8],
) -> Result<Response, ApiError> {
    principal.require(AccessRights::ServiceConnect)?;
    let body: MethodBody = json_body(body)?;
    let name = body
        .method_name
        .ok_or_else(|| ApiError::bad_request("methodName is required"))?;
    let call = MethodInvocation {
        name,
        payload: body.payload.unwrap_or(Value::Null),
        response_timeout: seconds(
            body.response_timeout_in_seconds.as_ref(),
            DEFAULT_RESPONSE_TIMEOUT,
            "responseTimeoutInSeconds",
        )?,
        connect_timeout: seconds(
            body.connect_timeout_in_seconds.as_ref(),
            Duration::ZERO,
            "connectTimeoutInSeconds",
        )?,
    };
    let result = state
        .hub
        .invoke_method(&principal.hub, &identity, call)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        json!({ "status": result.status, "payload": result.payload }),
        None,
    ))
}

pub async fn invoke_device_method(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let identity = Identity::device(parse_device_id(&id)?);
    invoke(state, principal, identity, &body).await
}

pub async fn invoke_module_method(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path((id, module)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let identity = Identity {
        device_id: parse_device_id(&id)?,
        module_id: Some(ModuleId::new(module.clone()).map_err(|e| {
            ApiError::bad_request(format!("The module id {module:?} is not valid: {e}"))
        })?),
    };
    invoke(state, principal, identity, &body).await
}
