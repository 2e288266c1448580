//! The HTTPS accept loop (port 443) serving the REST router.
//!
//! Our own loop rather than `axum::serve`: the TLS handshake runs in each connection's task
//! under a deadline (axum's `Listener::accept` runs sequentially, so one stalled client would
//! block every accept), and hyper-util's graceful shutdown drains open requests.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::mqtt_listener::HANDSHAKE_TIMEOUT;
use crate::shutdown::Shutdown;

pub async fn serve_https(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    router: Router,
    ip_filter: Arc<crate::ip_filter::IpFilter>,
    mut shutdown: Shutdown,
) {
    // What an address the IP filter refuses is told, whatever it asks: a plain 401 that does
    // not name the rule, as IoT Hub answers.
    let refused = Router::new().fallback(|| async {
        (
            axum::http::StatusCode::UNAUTHORIZED,
            [
                ("content-type", "application/json; charset=utf-8"),
                ("iothub-errorcode", "IotHubUnauthorizedAccess"),
            ],
            r#"{"Message":"ErrorCode:IotHubUnauthorizedAccess;Unauthorized","ExceptionMessage":""}"#,
        )
    });
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = shutdown.requested() => break,
        };
        let (socket, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        // The peer address travels with each request (MQTT over WebSockets logs it).
        let chosen = if ip_filter.allows(peer.ip()) {
            &router
        } else {
            &refused
        };
        let service = TowerToHyperService::new(
            chosen
                .clone()
                .layer(axum::Extension(crate::websocket::PeerAddr(peer))),
        );
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
                    Ok(Ok(s)) => s,
                    _ => {
                        tracing::debug!(%peer, "HTTPS handshake failed or timed out");
                        return;
                    }
                };
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, error = %e, "HTTPS connection ended with an error");
            }
        });
    }
    // Give open requests (such as telemetry streams) a bounded time to finish.
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}
