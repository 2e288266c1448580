//! Every route, and the state handlers share.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use ferrohub_core::Hub;

use crate::error::ApiError;
use crate::{
    c2d, certificates, devices, hubs, methods, modules, openapi, query, statistics, telemetry,
    twins,
};

/// Renders the Prometheus text exposition; supplied by the binary, which owns the recorder.
pub type MetricsRenderer = Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Clone)]
pub struct ApiState {
    pub hub: Hub,
    pub render_metrics: MetricsRenderer,
}

/// The routes, as (method, path) pairs, in the order they are documented. The OpenAPI test
/// checks the document covers each one.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/devices"),
    ("post", "/devices/query"),
    ("put", "/devices/{id}"),
    ("get", "/devices/{id}"),
    ("delete", "/devices/{id}"),
    ("get", "/devices/{id}/modules"),
    ("put", "/devices/{id}/modules/{mid}"),
    ("get", "/devices/{id}/modules/{mid}"),
    ("delete", "/devices/{id}/modules/{mid}"),
    ("get", "/twins/{id}"),
    ("patch", "/twins/{id}"),
    ("put", "/twins/{id}"),
    ("get", "/twins/{id}/modules/{mid}"),
    ("patch", "/twins/{id}/modules/{mid}"),
    ("put", "/twins/{id}/modules/{mid}"),
    ("post", "/twins/{id}/methods"),
    ("post", "/twins/{id}/modules/{mid}/methods"),
    ("delete", "/devices/{id}/commands"),
    ("get", "/messages/serviceBound/feedback"),
    ("delete", "/messages/serviceBound/feedback/{lockToken}"),
    (
        "post",
        "/messages/serviceBound/feedback/{lockToken}/abandon",
    ),
    ("post", "/ferrohub/devices/{id}/messages/devicebound"),
    ("get", "/statistics/devices"),
    ("get", "/statistics/service"),
    ("get", "/ferrohub/telemetry"),
    ("get", "/ferrohub/consumer-groups"),
    ("put", "/ferrohub/consumer-groups/{name}"),
    ("delete", "/ferrohub/consumer-groups/{name}"),
    ("post", "/ferrohub/consumer-groups/{name}/checkpoints"),
    ("post", "/ferrohub/hubs"),
    ("get", "/ferrohub/hubs/{name}"),
    ("patch", "/ferrohub/hubs/{name}"),
    ("get", "/ferrohub/certificates"),
    ("get", "/ferrohub/certificates/{name}"),
    ("put", "/ferrohub/certificates/{name}"),
    ("delete", "/ferrohub/certificates/{name}"),
    (
        "post",
        "/ferrohub/certificates/{name}/generateVerificationCode",
    ),
    ("post", "/ferrohub/certificates/{name}/verify"),
];

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi::document))
        .route("/devices", get(devices::list_devices))
        // The Node service SDK lists devices with a trailing slash.
        .route("/devices/", get(devices::list_devices))
        .route(
            "/devices/{id}",
            put(devices::put_device)
                .get(devices::get_device)
                .delete(devices::delete_device),
        )
        .route("/devices/query", post(query::query_devices))
        .route("/devices/{id}/modules", get(modules::list_modules))
        .route(
            "/devices/{id}/modules/{mid}",
            put(modules::put_module)
                .get(modules::get_module)
                .delete(modules::delete_module),
        )
        .route(
            "/twins/{id}",
            get(twins::get_device_twin)
                .patch(twins::patch_device_twin)
                .put(twins::put_device_twin),
        )
        .route(
            "/twins/{id}/modules/{mid}",
            get(twins::get_module_twin)
                .patch(twins::patch_module_twin)
                .put(twins::put_module_twin),
        )
        .route("/twins/{id}/methods", post(methods::invoke_device_method))
        .route(
            "/twins/{id}/modules/{mid}/methods",
            post(methods::invoke_module_method),
        )
        .route("/devices/{id}/commands", delete(c2d::purge))
        .route(
            "/messages/serviceBound/feedback",
            get(c2d::receive_feedback),
        )
        .route(
            "/messages/serviceBound/feedback/{lockToken}",
            delete(c2d::complete_feedback),
        )
        .route(
            "/messages/serviceBound/feedback/{lockToken}/abandon",
            post(c2d::abandon_feedback),
        )
        .route(
            "/ferrohub/devices/{id}/messages/devicebound",
            post(c2d::send),
        )
        .route("/statistics/devices", get(statistics::device_statistics))
        .route("/statistics/service", get(statistics::service_statistics))
        .route("/ferrohub/telemetry", get(telemetry::stream))
        .route("/ferrohub/consumer-groups", get(telemetry::list_groups))
        .route(
            "/ferrohub/consumer-groups/{name}",
            put(telemetry::create_group).delete(telemetry::delete_group),
        )
        .route(
            "/ferrohub/consumer-groups/{name}/checkpoints",
            post(telemetry::commit_checkpoints),
        )
        .route("/ferrohub/hubs", post(hubs::create_hub))
        .route(
            "/ferrohub/hubs/{name}",
            get(hubs::get_hub).patch(hubs::update_hub),
        )
        .route(
            "/ferrohub/certificates",
            get(certificates::list_certificates),
        )
        .route(
            "/ferrohub/certificates/{name}",
            get(certificates::get_certificate)
                .put(certificates::put_certificate)
                .delete(certificates::delete_certificate),
        )
        .route(
            "/ferrohub/certificates/{name}/generateVerificationCode",
            post(certificates::generate_verification_code),
        )
        .route(
            "/ferrohub/certificates/{name}/verify",
            post(certificates::verify_certificate),
        )
        .fallback(not_found)
        .with_state(state)
}

async fn health() -> Response {
    let mut r = (
        StatusCode::OK,
        axum::Json(serde_json::json!({"status": "ok"})),
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

async fn metrics(State(state): State<ApiState>) -> Response {
    let mut r = (StatusCode::OK, (state.render_metrics)()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

async fn not_found() -> ApiError {
    ApiError::not_found("NotFound", "No such resource")
}
