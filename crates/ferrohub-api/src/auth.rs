//! The service principal extractor: every registry, telemetry and `/ferrohub/...` route
//! starts here, so every route picks its hub by the same rule (the `Host` when it names a
//! hub, otherwise the token's `sr`; see `ferrohub_core::service_auth`).

use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, HOST};
use axum::http::request::Parts;
use ferrohub_core::service_auth::ServicePrincipal;

use crate::error::ApiError;
use crate::router::ApiState;

/// An authenticated back end (IoT Hub service SAS in `Authorization`).
pub struct Principal(pub ServicePrincipal);

impl FromRequestParts<ApiState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let host = addressed_host(parts);
        let principal = state
            .hub
            .authenticate_service(header, host)
            .inspect_err(|e| {
                metrics::counter!("ferrohub_service_auth_failures_total").increment(1);
                tracing::info!(reason = %e, "service request refused");
            })?;
        Ok(Self(principal))
    }
}

/// The host the request was sent to: the `Host` header (HTTP/1.1), or the authority of an
/// absolute request target (HTTP/2's `:authority` arrives there).
fn addressed_host(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.host())
}
