//! The service side of the method and C2D scenarios: REST calls over a pool of keep-alive
//! HTTP/1.1 connections.
//!
//! `ferrohub::client::ApiClient` opens a new TLS connection per call, which is right for a
//! CLI but at 1,000 calls/s would measure TLS handshakes (on the same two cores as the
//! server), not the hub. Here N connections stay open and each carries one request at a
//! time, as a real service's HTTP client pool would; a call waits for a free connection,
//! and a connection that failed is replaced by a fresh one on the next call.

use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::Bytes;
use ferrohub::client::{ApiClient, tls_config};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

type Sender = SendRequest<Full<Bytes>>;

/// A REST answer and when its request went out and its body was complete.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
    pub sent: Instant,
    pub received: Instant,
}

pub struct ServicePool {
    address: String,
    host: String,
    server_name: ServerName<'static>,
    tls: TlsConnector,
    /// One service SAS token for the whole run: signing per call would add client CPU.
    authorization: String,
    idle: Mutex<Vec<Sender>>,
    permits: Semaphore,
    size: usize,
}

impl ServicePool {
    /// A pool of `size` connections to the API `api` talks to, with a token valid for
    /// `lifetime`. Nothing is connected until [`ServicePool::warm`] or the first call.
    pub fn new(
        api: &ApiClient,
        ca: &Path,
        size: usize,
        lifetime: Duration,
    ) -> anyhow::Result<ServicePool> {
        let c = &api.credentials;
        let expiry = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + lifetime.as_secs();
        let authorization =
            ferrohub_protocol::sas::sign(&c.host_name, &c.key, expiry, Some(&c.key_name))
                .context("the connection string's SharedAccessKey is not base64")?;
        let server_name = ServerName::try_from(api.server_name.clone())
            .with_context(|| format!("{} is not a valid TLS server name", api.server_name))?;
        Ok(ServicePool {
            address: api.address.clone(),
            host: c.host_name.clone(),
            server_name,
            tls: TlsConnector::from(tls_config(ca)?),
            authorization,
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Semaphore::new(size),
            size,
        })
    }

    /// Opens every connection now, so handshakes stay out of the measured phase.
    pub async fn warm(&self) -> anyhow::Result<()> {
        let mut opened = Vec::with_capacity(self.size);
        for _ in 0..self.size {
            opened.push(self.connect().await?);
        }
        self.idle_list().extend(opened);
        Ok(())
    }

    /// Sends one request (`api-version` is added) and collects the answer. The body is
    /// made once a connection is free, so a timestamp in it (C2D) and the answer's times
    /// cover only the request itself, not the wait for a connection.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: impl FnOnce() -> Bytes,
    ) -> anyhow::Result<Answer> {
        let _permit = self.permits.acquire().await?;
        let idle = self.idle_list().pop();
        let mut sender = match idle {
            Some(s) if !s.is_closed() => s,
            _ => self.connect().await?,
        };
        sender.ready().await?;
        let request = Request::builder()
            .method(method)
            .uri(with_api_version(path))
            .header("host", &self.host)
            .header("authorization", &self.authorization)
            .header("content-type", "application/json")
            .body(Full::new(body()))?;
        let sent = Instant::now();
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        let received = Instant::now();
        // Only a connection that completed its exchange goes back; a failed one is dropped.
        self.idle_list().push(sender);
        Ok(Answer {
            status,
            body,
            sent,
            received,
        })
    }

    fn idle_list(&self) -> std::sync::MutexGuard<'_, Vec<Sender>> {
        // A panic while holding the lock leaves a valid Vec; keep using it.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn connect(&self) -> anyhow::Result<Sender> {
        let tcp = TcpStream::connect(&self.address)
            .await
            .with_context(|| format!("cannot reach the REST API at {}", self.address))?;
        tcp.set_nodelay(true)?;
        let tls = self
            .tls
            .connect(self.server_name.clone(), tcp)
            .await
            .with_context(|| format!("TLS to {} failed", self.address))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        // The connection task ends when the sender is dropped or the server closes it.
        tokio::spawn(conn);
        Ok(sender)
    }
}

fn with_api_version(path: &str) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{path}{separator}api-version=2021-04-12")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_version_is_appended_to_any_query() {
        assert_eq!(
            with_api_version("/twins/a/methods"),
            "/twins/a/methods?api-version=2021-04-12"
        );
        assert_eq!(with_api_version("/x?y=1"), "/x?y=1&api-version=2021-04-12");
    }
}
