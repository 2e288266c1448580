//! A small HTTPS client of our own REST API, trusting only the given CA.
//!
//! One connection per command is plenty for a CLI; hyper's http1 client over tokio-rustls,
//! with no connection pool and no extra HTTP client dependency.

use std::path::{Path, PathBuf};
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
    tls: Arc<rustls::ClientConfig>,
}

/// The API's answer, body collected.
pub struct ApiResponse {
    pub status: StatusCode,
    pub body: Bytes,
}

impl ApiResponse {
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
        ca: &PathBuf,
    ) -> anyhow::Result<Self> {
        Ok(Self {
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
        let tcp = TcpStream::connect(&self.address).await.with_context(|| {
            format!(
                "cannot reach the ferrohub REST API at {}; is `ferrohub serve` running?",
                self.address
            )
        })?;
        let host = self.credentials.host_name.clone();
        let name = ServerName::try_from(host.clone())
            .with_context(|| format!("{host} is not a valid server name"))?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .with_context(|| {
                format!("TLS to {} failed (is --ca the server's CA?)", self.address)
            })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        let (bytes, content_type) = match body {
            Some(v) => (Bytes::from(serde_json::to_vec(&v)?), "application/json"),
            None => (Bytes::new(), "application/json"),
        };
        let separator = if path.contains('?') { '&' } else { '?' };
        let request = Request::builder()
            .method(method)
            .uri(format!("{path}{separator}api-version=2021-04-12"))
            .header("host", host)
            .header("authorization", self.token()?)
            .header("content-type", content_type)
            .body(Full::new(bytes))?;
        Ok(sender.send_request(request).await?)
    }

    /// Sends one request and collects the body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<ApiResponse> {
        let response = self.send(method, path, body).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(ApiResponse { status, body })
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
