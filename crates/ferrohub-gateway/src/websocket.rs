//! MQTT over WebSockets: `wss://host:443/$iothub/websocket` with subprotocol `mqtt`, as the
//! Python (`websockets=True`) and Node (`MqttWs`) SDKs use it.
//!
//! The upgrade is refused unless the client offers `mqtt` (the Node `ws` client aborts if the
//! subprotocol is not echoed). Binary frames are fed to the same driver as TCP, through an
//! in-memory pipe, so packets may span frames and several may share one; text frames close
//! the connection. Frame and message sizes are capped just above the MQTT packet limit, so a
//! declared 1 GB frame is refused without allocating it. A certificate the device presented
//! in the HTTPS handshake authenticates it as over MQTT/TLS (X.509 over WebSockets).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ferrohub_core::Hub;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::driver::{DriverConfig, Transport, drive};
use crate::shutdown::Shutdown;

/// The client's address, set per connection by the HTTPS listener.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// The certificate chain the client presented in the HTTPS handshake (leaf first), set per
/// connection by the HTTPS listener when there was one.
#[derive(Debug, Clone)]
pub struct PeerCertificates(pub std::sync::Arc<[rustls::pki_types::CertificateDer<'static>]>);

/// Largest WebSocket message or frame: an MQTT packet of 256 KiB plus headers.
const MAX_WS_MESSAGE: usize = 300 * 1024;
/// The in-memory pipe between WebSocket frames and the MQTT driver. Bounded: when the driver
/// does not read, the pump stops reading frames (backpressure to the client).
const PIPE_BYTES: usize = 64 * 1024;

#[derive(Clone)]
struct WsState {
    hub: Hub,
    config: DriverConfig,
    shutdown: Shutdown,
}

/// The route, to merge into the HTTPS router.
pub fn router(hub: Hub, config: DriverConfig, shutdown: Shutdown) -> Router {
    Router::new()
        .route("/$iothub/websocket", get(upgrade))
        .with_state(WsState {
            hub,
            config,
            shutdown,
        })
}

fn offers_mqtt(headers: &HeaderMap) -> bool {
    headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("mqtt"))
}

async fn upgrade(
    State(state): State<WsState>,
    peer: Option<Extension<PeerAddr>>,
    certificates: Option<Extension<PeerCertificates>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !offers_mqtt(&headers) {
        return (
            StatusCode::BAD_REQUEST,
            "the WebSocket subprotocol must be mqtt",
        )
            .into_response();
    }
    let peer = peer.map_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)), |Extension(p)| p.0);
    if state
        .config
        .throttle
        .is_blocked(peer.ip(), std::time::Instant::now())
    {
        return StatusCode::TOO_MANY_REQUESTS.into_response();
    }
    ws.protocols(["mqtt"])
        .max_message_size(MAX_WS_MESSAGE)
        .max_frame_size(MAX_WS_MESSAGE)
        .on_upgrade(move |socket| {
            let certificates = certificates.map(|Extension(c)| c);
            bridge(socket, peer, certificates, state)
        })
}

/// Pumps frames between the WebSocket and the driver until either side ends.
async fn bridge(
    mut socket: WebSocket,
    peer: SocketAddr,
    certificates: Option<PeerCertificates>,
    state: WsState,
) {
    let (driver_side, pump_side) = tokio::io::duplex(PIPE_BYTES);
    // Judged now, as on the MQTT port: CONNECT needs the CAs the chain reaches at this moment.
    let client_cert = certificates
        .and_then(|PeerCertificates(chain)| crate::client_cert::inspect_now(&chain, &state.hub));
    let transport = Transport { peer, client_cert };
    let driver = tokio::spawn(drive(
        driver_side,
        transport,
        state.hub,
        state.config,
        state.shutdown,
    ));
    let (mut from_driver, mut to_driver) = tokio::io::split(pump_side);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Binary(bytes))) => {
                    if to_driver.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                // Text frames are not MQTT; a close or an error ends the connection.
                Some(Ok(Message::Text(_) | Message::Close(_)) | Err(_)) | None => break,
            },
            read = from_driver.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let frame = Message::Binary(bytes::Bytes::copy_from_slice(&buf[..n]));
                    if socket.send(frame).await.is_err() {
                        break;
                    }
                }
            },
        }
    }
    // Dropping our end of the pipe tells the driver the transport closed (Will, cleanup).
    drop(to_driver);
    drop(from_driver);
    let _ = socket.send(Message::Close(None)).await;
    let _ = driver.await;
}
