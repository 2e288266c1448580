//! The service principal extractor: every registry and telemetry route starts here.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
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
        let principal = state.hub.authenticate_service(header).inspect_err(|e| {
            metrics::counter!("ferrohub_service_auth_failures_total").increment(1);
            tracing::info!(reason = %e, "service request refused");
        })?;
        Ok(Self(principal))
    }
}
