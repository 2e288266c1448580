//! The MQTT-over-TLS accept loop (port 8883).
//!
//! Each accepted socket gets its own task; the TLS handshake runs there under a deadline, so a
//! client that stalls mid-handshake never blocks the accept loop (hostile case E1).

use std::sync::Arc;
use std::time::Duration;

use ferrohub_core::Hub;
use rustls::ServerConfig;
use tokio::net::TcpListener;

use crate::driver::{DriverConfig, Transport, drive};
use crate::shutdown::Shutdown;
use crate::tls_stream::TlsStream;

/// How long a client may take to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts until shutdown. Returns when the listener stops; running connections are told to
/// close through the hub's presence and their own shutdown clone.
pub async fn serve_mqtt(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    hub: Hub,
    config: DriverConfig,
    mut shutdown: Shutdown,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = shutdown.requested() => break,
        };
        let (socket, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if config
            .throttle
            .is_blocked(peer.ip(), std::time::Instant::now())
        {
            // Closed before any TLS work: a flood of bad CONNECTs costs an accept, no more.
            metrics::counter!("ferrohub_connections_throttled_total").increment(1);
            drop(socket);
            continue;
        }
        let _ = socket.set_nodelay(true);
        metrics::counter!("ferrohub_mqtt_connections_accepted_total").increment(1);
        let tls = Arc::clone(&tls);
        let hub = hub.clone();
        let config = config.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            // The handshake and the connection are separate boxed futures, so the task holds
            // only the state of the stage it is in rather than room for both.
            // In its own block, so the handshaken stream is moved into the boxed driver and
            // the task keeps no room for it while the connection runs.
            let driver = {
                let handshake = Box::pin(tokio::time::timeout(
                    HANDSHAKE_TIMEOUT,
                    TlsStream::accept(socket, tls),
                ));
                let stream = match handshake.await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        metrics::counter!("ferrohub_tls_handshake_failures_total").increment(1);
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        metrics::counter!("ferrohub_tls_handshake_failures_total").increment(1);
                        return;
                    }
                };
                // The chain is judged again against the current trusted CAs: CONNECT needs to
                // know which hub's CA it reached, and a CA deleted since the handshake is gone.
                let client_cert = stream
                    .peer_certificates()
                    .and_then(|chain| crate::client_cert::inspect_now(chain, &hub));
                let transport = Transport { peer, client_cert };
                Box::pin(drive(stream, transport, hub, config, shutdown))
            };
            driver.await;
        });
        // Reap finished connection tasks so the set does not grow with history.
        while connections.try_join_next().is_some() {}
    }
    // Let connections finish their in-flight appends and close.
    while connections.join_next().await.is_some() {}
}
