//! Cloud-to-device messages over REST.
//!
//! IoT Hub's service SDKs send C2D over AMQP; ferrohub offers a REST send as its own
//! extension (`POST /ferrohub/devices/{id}/messages/devicebound`), and IoT Hub's own REST
//! operations for purge (`DELETE /devices/{id}/commands`) and delivery feedback
//! (`/messages/serviceBound/feedback`), which the service SDKs do call over HTTPS.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use ferrohub_core::c2d::{Ack, C2dSend};
use ferrohub_store::AccessRights;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::devices::{json_body, json_response, parse_device_id};
use crate::error::ApiError;
use crate::router::ApiState;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendBody {
    body: Option<String>,
    body_base64: Option<String>,
    #[serde(default)]
    properties: BTreeMap<String, String>,
    message_id: Option<String>,
    correlation_id: Option<String>,
    user_id: Option<String>,
    content_type: Option<String>,
    content_encoding: Option<String>,
    ack: Option<String>,
    ttl_seconds: Option<u64>,
}

pub async fn send(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::ServiceConnect)?;
    let device = parse_device_id(&id)?;
    let b: SendBody = json_body(&body)?;
    let payload = match (b.body, b.body_base64) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request("Give body or bodyBase64, not both"));
        }
        (Some(text), None) => Bytes::from(text),
        (None, Some(encoded)) => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(encoded.as_bytes())
                .map_err(|_| ApiError::bad_request("bodyBase64 is not base64"))?,
        ),
        (None, None) => Bytes::new(),
    };
    let ack = match b.ack.as_deref() {
        None => Ack::None,
        Some(a) => Ack::parse(a)
            .ok_or_else(|| ApiError::bad_request("ack must be none, positive, negative or full"))?,
    };
    if b.properties
        .keys()
        .any(|k| k.is_empty() || k.starts_with("$.") || k.starts_with("iothub-"))
    {
        return Err(ApiError::bad_request(
            "Application property names must be non-empty and not start with '$.' or 'iothub-'",
        ));
    }
    let message = C2dSend {
        body: payload,
        properties: b.properties.into_iter().collect(),
        message_id: b.message_id,
        correlation_id: b.correlation_id,
        user_id: b.user_id,
        content_type: b.content_type,
        content_encoding: b.content_encoding,
        ack,
        ttl: b.ttl_seconds.map(Duration::from_secs),
    };
    let message_id = state.hub.send_c2d(&principal.hub, &device, message).await?;
    Ok(json_response(
        StatusCode::CREATED,
        json!({ "messageId": message_id }),
        None,
    ))
}

pub async fn purge(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::ServiceConnect)?;
    let device = parse_device_id(&id)?;
    let purged = state.hub.purge_c2d(&principal.hub, &device).await?;
    Ok(json_response(
        StatusCode::OK,
        json!({ "totalMessagesPurged": purged, "deviceId": device, "moduleId": null }),
        None,
    ))
}

/// `GET /messages/serviceBound/feedback`: a locked batch (lock token in `ETag`), or 204.
pub async fn receive_feedback(
    State(state): State<ApiState>,
    Principal(principal): Principal,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::ServiceConnect)?;
    let Some(batch) = state.hub.receive_feedback(&principal.hub).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let records: Vec<Value> = batch
        .records
        .iter()
        .map(|r| {
            json!({
                "originalMessageId": r.original_message_id,
                "description": r.description,
                "statusCode": r.status_code,
                "deviceId": r.device_id,
                "deviceGenerationId": r.device_generation_id,
                "enqueuedTimeUtc": r.enqueued_time_utc,
            })
        })
        .collect();
    let mut response = json_response(
        StatusCode::OK,
        Value::Array(records),
        Some(&batch.lock_token),
    );
    if let Ok(v) = HeaderValue::from_str(&batch.lock_token) {
        response.headers_mut().insert("iothub-locktoken", v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

pub async fn complete_feedback(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(lock): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(AccessRights::ServiceConnect)?;
    if state.hub.complete_feedback(&principal.hub, &lock).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::precondition(
            "The lock token is unknown or its lock expired",
        ))
    }
}

pub async fn abandon_feedback(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(lock): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(AccessRights::ServiceConnect)?;
    if state.hub.abandon_feedback(&principal.hub, &lock).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::precondition(
            "The lock token is unknown or its lock expired",
        ))
    }
}
