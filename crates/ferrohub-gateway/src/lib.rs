//! Listeners and connection drivers.
//!
//! - [`client_cert`]: device certificates (optional in the handshake; self-signed ones are
//!   judged at CONNECT, others must chain to a verified CA before the handshake completes).
//! - [`client_chain`]: which verified CA certificates a device's chain leads to.
//! - [`tls`]: the rustls server configuration (TLS 1.2 ECDHE+AEAD and TLS 1.3, ring only).
//! - [`server_cert`]: the server certificate chosen per handshake by SNI; certificates for
//!   hubs created after start are issued on first use (signing is asked of the binary).
//! - [`mqtt_listener`]: accepts TCP, runs the TLS handshake under a deadline, spawns a driver.
//! - [`tls_stream`]: TLS for the MQTT port on rustls's unbuffered API; its buffers exist only
//!   while bytes are in flight, so idle connections hold none.
//! - [`read_into`]: how the driver reads (appends what arrived; no buffer held while idle).
//! - [`driver`]: the thin loop that feeds bytes to a `DeviceSession`, carries out its hub
//!   requests, and writes its packets. No IoT Hub rule lives here; they live in the session.
//! - [`https_listener`]: the HTTPS accept loop that hands connections to the REST router.
//! - [`ip_filter`]: IoT Hub's ordered accept/reject rules on client addresses.
//! - [`throttle`]: refusing addresses that keep failing authentication.
//! - [`websocket`]: MQTT over WebSockets on the HTTPS port (`/$iothub/websocket`).
//!
//! Every accept loop takes a bound listener and a shutdown signal, so tests start a real
//! server on port 0.

#![forbid(unsafe_code)]

mod appends;
pub mod client_cert;
pub mod client_chain;
pub mod driver;
pub mod https_listener;
pub mod ip_filter;
pub mod mqtt_listener;
pub mod read_into;
pub mod server_cert;
pub mod shutdown;
pub mod throttle;
pub mod tls;
pub mod tls_stream;
pub mod websocket;
