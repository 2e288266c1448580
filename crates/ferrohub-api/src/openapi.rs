//! `/openapi.json`: the REST API's OpenAPI 3.1 document, kept by hand in `openapi.json`
//! beside this file and checked against `router::ROUTES` by a test.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub const DOCUMENT: &str = include_str!("openapi.json");

pub async fn document() -> Response {
    let mut r = (StatusCode::OK, DOCUMENT).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::ROUTES;

    #[test]
    fn the_openapi_document_describes_every_route() {
        let doc: serde_json::Value =
            serde_json::from_str(DOCUMENT).unwrap_or_else(|e| panic!("openapi.json: {e}"));
        for (method, path) in ROUTES {
            assert!(
                doc["paths"][path][method].is_object(),
                "openapi.json lacks {method} {path}"
            );
        }
    }
}
