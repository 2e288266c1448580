//! Hosted hubs (our extension; in Azure these are ARM resources).
//!
//! - `POST /ferrohub/hubs`: create another hub. Needs the owner policy (every right) of the
//!   hub the request authenticates against.
//! - `GET /ferrohub/hubs/{name}`: the hub and its settings; RegistryRead of that very hub.
//! - `PATCH /ferrohub/hubs/{name}`: change its settings (`disableDeviceSAS`); the owner
//!   policy of that very hub, since it changes how every device may authenticate.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use ferrohub_core::hub_settings::HubSettingsUpdate;
use ferrohub_core::service_auth::ServicePrincipal;
use ferrohub_protocol::HubName;
use ferrohub_store::{AccessRights, HubRecord, Rights};
use serde::Deserialize;
use serde_json::{Value, json};

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
    require_owner(&principal)?;
    let body: CreateHub = json_body(&body)?;
    let name = HubName::new(body.name.clone()).map_err(|e| {
        ApiError::bad_request(format!("The hub name {:?} is not valid: {e}", body.name))
    })?;
    if body.hostname.is_empty() || body.hostname.contains(['/', ' ', ':']) {
        return Err(ApiError::bad_request("The hostname must be a DNS name"));
    }
    let record = state.hub.create_hub(&name, &body.hostname).await?;
    Ok(json_response(StatusCode::CREATED, hub_json(&record), None))
}

fn hub_json(record: &HubRecord) -> Value {
    json!({
        "name": record.name,
        "hostname": record.hostname,
        "createdTime": record.created_time,
        "disableDeviceSAS": record.disable_device_sas,
        "disableModuleSAS": record.disable_module_sas,
    })
}

fn require_owner(principal: &ServicePrincipal) -> Result<(), ApiError> {
    if principal.rights == Rights::all() {
        Ok(())
    } else {
        Err(ferrohub_core::service_auth::ServiceAuthError::MissingRight(
            AccessRights::RegistryWrite,
        )
        .into())
    }
}

/// The named hub, which must be the one the request authenticated against: a hub's
/// credentials say nothing about another hub.
fn own_hub(principal: &ServicePrincipal, name: &str) -> Result<HubName, ApiError> {
    if principal.hub.as_str() == name {
        return Ok(principal.hub.clone());
    }
    Err(ApiError {
        status: StatusCode::UNAUTHORIZED,
        code: "IotHubUnauthorizedAccess",
        message: format!(
            "The credentials are for the hub {}, not {name:?}",
            principal.hub
        ),
    })
}

pub async fn get_hub(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::RegistryRead)?;
    let hub = own_hub(&principal, &name)?;
    let record = state.hub.hub_record(&hub)?;
    Ok(json_response(StatusCode::OK, hub_json(&record), None))
}

#[derive(Debug, Default, Deserialize)]
pub struct UpdateHub {
    #[serde(rename = "disableDeviceSAS")]
    disable_device_sas: Option<bool>,
    #[serde(rename = "disableModuleSAS")]
    disable_module_sas: Option<bool>,
}

pub async fn update_hub(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    require_owner(&principal)?;
    let hub = own_hub(&principal, &name)?;
    let body: UpdateHub = json_body(&body)?;
    let update = HubSettingsUpdate {
        disable_device_sas: body.disable_device_sas,
        disable_module_sas: body.disable_module_sas,
    };
    let record = state.hub.update_hub_settings(&hub, update).await?;
    Ok(json_response(StatusCode::OK, hub_json(&record), None))
}
