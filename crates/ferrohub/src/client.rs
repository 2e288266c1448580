//! A small HTTPS client of our own REST API, trusting only the given CA.
//!
//! One connection per command is plenty for a CLI; hyper's http1 client over tokio-rustls,
//! with no connection pool and no extra HTTP client dependency.

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::connection_string::ServiceConnectionString;

/// Where and how to call the REST API.
pub struct ApiClient {
    pub credentials: ServiceConnectionString,
    /// `host:port` to dial.
    pub address: String,
    /// The name the server's certificate must carry (default: the connection string's host).
    pub server_name: String,
    tls: Arc<rustls::ClientConfig>,
}

/// The API's answer, body collected.
pub struct ApiResponse {
    pub status: StatusCode,
    pub body: Bytes,
    /// The `ETag` header without its quotes (also the feedback lock token).
    pub etag: Option<String>,
}

impl ApiResponse {
    pub fn etag(&self) -> Option<String> {
        self.etag.clone()
    }

    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).context("the server's answer is not JSON")
    }

    /// The API's error as one line: IoT Hub's `Message` without the `ErrorCode:` prefix.
    pub fn error_line(&self) -> String {
        let text = serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["Message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).into_owned());
        let text = text
            .split_once(';')
            .map_or(text.as_str(), |(_, t)| t)
            .to_owned();
        format!("{} ({})", text, self.status)
    }
}

pub fn tls_config(ca: &Path) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)
        .with_context(|| format!("cannot read the CA {}", ca.display()))?
    {
        roots.add(cert.with_context(|| format!("{} is not a PEM certificate", ca.display()))?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

impl ApiClient {
    pub fn new(
        credentials: ServiceConnectionString,
        address: String,
        ca: &Path,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            server_name: credentials.host_name.clone(),
            credentials,
            address,
            tls: tls_config(ca)?,
        })
    }

    fn token(&self) -> anyhow::Result<String> {
        let expiry = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 3600;
        ferrohub_protocol::sas::sign(
            &self.credentials.host_name,
            &self.credentials.key,
            expiry,
            Some(&self.credentials.key_name),
        )
        .context("the connection string's SharedAccessKey is not base64")
    }

    /// Sends one request and returns the response with its body still streaming.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<Response<Incoming>> {
        self.send_with_headers(method, path, body, &[]).await
    }

    /// Like `send`, with extra headers (such as `If-Match`, or a `Host` other than the
    /// hub's host name, or an `Authorization` other than the connection string's token).
    pub async fn send_with_headers(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        headers: &[(&str, String)],
    ) -> anyhow::Result<Response<Incoming>> {
        let bytes = match body {
            Some(v) => Bytes::from(serde_json::to_vec(&v)?),
            None => Bytes::new(),
        };
        self.request(method, path, bytes, headers).await
    }

    /// Sends raw body bytes and returns only the status (for malformed-input checks).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> anyhow::Result<StatusCode> {
        let response = self.request(method, path, body, &[]).await?;
        let status = response.status();
        let _ = response.into_body().collect().await;
        Ok(status)
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        headers: &[(&str, String)],
    ) -> anyhow::Result<Response<Incoming>> {
        let tcp = TcpStream::connect(&self.address).await.with_context(|| {
            format!(
                "cannot reach the ferrohub REST API at {}; is `ferrohub serve` running?",
                self.address
            )
        })?;
        // A request is written in pieces (TLS records for headers and body); without this the
        // last piece can wait for the server's delayed ACK of the first (up to 40 ms).
        let _ = tcp.set_nodelay(true);
        // The hub's host name, as the service SDKs send it; a caller's own `Host` wins.
        let host = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("host"))
            .map_or_else(|| self.credentials.host_name.clone(), |(_, v)| v.clone());
        let name = ServerName::try_from(self.server_name.clone())
            .with_context(|| format!("{} is not a valid server name", self.server_name))?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .with_context(|| {
                format!("TLS to {} failed (is --ca the server's CA?)", self.address)
            })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        let separator = if path.contains('?') { '&' } else { '?' };
        let own_token = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{path}{separator}api-version=2021-04-12"))
            .header("host", host)
            .header("content-type", "application/json");
        if !own_token {
            request = request.header("authorization", self.token()?);
        }
        for (name, value) in headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("host"))
        {
            request = request.header(*name, value);
        }
        Ok(sender.send_request(request.body(Full::new(body))?).await?)
    }

    /// Sends one request and collects the body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<ApiResponse> {
        let response = self.send(method, path, body).await?;
        collect(response).await
    }

    /// Like `call`, but a non-2xx answer becomes an error with the API's message.
    pub async fn call_ok(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<ApiResponse> {
        let r = self.call(method, path, body).await?;
        if !r.status.is_success() {
            bail!("{}", r.error_line());
        }
        Ok(r)
    }
}

/// Percent-encodes one path segment (device ids may hold `%`, `?`, `$` ...).
pub fn segment(raw: &str) -> String {
    percent_encoding::utf8_percent_encode(raw, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Collects a response into an `ApiResponse`.
pub async fn collect(response: Response<Incoming>) -> anyhow::Result<ApiResponse> {
    let status = response.status();
    let etag = response
        .headers()
        .get(hyper::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_matches('"').to_owned());
    let body = response.into_body().collect().await?.to_bytes();
    Ok(ApiResponse { status, body, etag })
}
