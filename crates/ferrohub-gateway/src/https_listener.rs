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
        // MQTT over WebSockets and REST answers are small writes: without this, Nagle's
        // algorithm holds one back until the peer's delayed ACK (up to 40 ms) of the last.
        let _ = socket.set_nodelay(true);
        let acceptor = acceptor.clone();
        let chosen = if ip_filter.allows(peer.ip()) {
            router.clone()
        } else {
            refused.clone()
        };
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
            // The peer address and the client certificate (if any) travel with each request:
            // MQTT over WebSockets logs the one and authenticates X.509 devices with the other.
            let certificates = stream.get_ref().1.peer_certificates().map(|chain| {
                crate::websocket::PeerCertificates(
                    chain.iter().map(|c| c.clone().into_owned()).collect(),
                )
            });
            let mut app = chosen.layer(axum::Extension(crate::websocket::PeerAddr(peer)));
            if let Some(certificates) = certificates {
                app = app.layer(axum::Extension(certificates));
            }
            let service = TowerToHyperService::new(app);
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
