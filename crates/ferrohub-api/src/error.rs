//! Errors to HTTP, once. The body and header follow what the service SDKs parse: Node splits
//! `Message` on `;` and `:` and maps `DeviceNotFound` to its DeviceNotFoundError.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferrohub_core::HubError;
use ferrohub_core::clock::format_time;
use ferrohub_core::service_auth::ServiceAuthError;

/// An error answer: status, IoT Hub error name, text.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "ArgumentInvalid",
            message: message.into(),
        }
    }

    /// 412 for a stale or unknown lock token (IoT Hub's PreconditionFailed).
    pub fn precondition(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::PRECONDITION_FAILED,
            code: "PreconditionFailed",
            message: message.into(),
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code,
            message: message.into(),
        }
    }
}

impl From<HubError> for ApiError {
    fn from(e: HubError) -> Self {
        let (status, code) = match &e {
            HubError::DeviceNotFound(_) => (StatusCode::NOT_FOUND, "DeviceNotFound"),
            HubError::ModuleNotFound(..) => (StatusCode::NOT_FOUND, "ModuleNotFound"),
            HubError::DeviceAlreadyExists(_) => (StatusCode::CONFLICT, "DeviceAlreadyExists"),
            HubError::ModuleAlreadyExists(..) => (StatusCode::CONFLICT, "ModuleAlreadyExists"),
            HubError::PreconditionFailed => (StatusCode::PRECONDITION_FAILED, "PreconditionFailed"),
            HubError::InvalidArgument(_) => (StatusCode::BAD_REQUEST, "ArgumentInvalid"),
            HubError::MessageTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "MessageTooLarge"),
            HubError::HubNotFound(_) => (StatusCode::NOT_FOUND, "IotHubNotFound"),
            HubError::HubAlreadyExists(_) => (StatusCode::CONFLICT, "IotHubAlreadyExists"),
            HubError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
            HubError::DeviceNotOnline(_) => (StatusCode::NOT_FOUND, "DeviceNotOnline"),
            HubError::GatewayTimeout(_) => (StatusCode::GATEWAY_TIMEOUT, "GatewayTimeout"),
            HubError::Throttled(_) => (StatusCode::TOO_MANY_REQUESTS, "ThrottlingException"),
            HubError::QueueFull(..) => (StatusCode::FORBIDDEN, "DeviceMaximumQueueDepthExceeded"),
            HubError::CertificateNotFound(_) => (StatusCode::NOT_FOUND, "CertificateNotFound"),
            HubError::CertificateAlreadyExists(_) => {
                (StatusCode::CONFLICT, "CertificateAlreadyExists")
            }
        };
        Self {
            status,
            code,
            message: e.to_string(),
        }
    }
}

impl From<ServiceAuthError> for ApiError {
    fn from(e: ServiceAuthError) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "IotHubUnauthorizedAccess",
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let tracking = uuid::Uuid::new_v4().simple().to_string();
        let body = serde_json::json!({
            "Message": format!("ErrorCode:{};{}", self.code, self.message),
            "ExceptionMessage": format!(
                "Tracking ID:{tracking}-G:0-TimeStamp:{}",
                format_time(time::OffsetDateTime::now_utc())
            ),
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if let Ok(v) = HeaderValue::from_str(self.code) {
            headers.insert("iothub-errorcode", v);
        }
        response
    }
}
