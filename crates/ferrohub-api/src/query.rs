//! `POST /devices/query`: IoT Hub's twin query language, paged with `x-ms-max-item-count`
//! and `x-ms-continuation` (the header is omitted on the last page: Node loops while it is
//! present).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use ferrohub_store::AccessRights;
use serde::Deserialize;
use serde_json::Value;

use crate::auth::Principal;
use crate::devices::{json_body, json_response};
use crate::error::ApiError;
use crate::router::ApiState;

#[derive(Debug, Default, Deserialize)]
pub struct QueryBody {
    query: Option<String>,
}

pub async fn query_devices(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::RegistryRead)?;
    let body: QueryBody = json_body(&body)?;
    let text = body
        .query
        .ok_or_else(|| ApiError::bad_request("The body must be {\"query\": \"SELECT ...\"}"))?;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let page_size = match header("x-ms-max-item-count") {
        Some(v) => Some(
            v.parse::<usize>()
                .map_err(|_| ApiError::bad_request("x-ms-max-item-count must be a number"))?,
        ),
        None => None,
    };
    let page = state
        .hub
        .query(
            &principal.hub,
            &text,
            page_size,
            header("x-ms-continuation"),
        )
        .await?;
    let mut response = json_response(StatusCode::OK, Value::Array(page.items), None);
    let h = response.headers_mut();
    h.insert("x-ms-item-type", HeaderValue::from_static(page.item_type));
    if let Some(token) = page.continuation
        && let Ok(v) = HeaderValue::from_str(&token)
    {
        h.insert("x-ms-continuation", v);
    }
    Ok(response)
}
