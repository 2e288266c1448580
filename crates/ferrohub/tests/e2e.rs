//! End-to-end tests: the real server on port 0 (real TLS, real SQLite file, real log),
//! driven by an independent MQTT client (rumqttc), raw sockets, and the REST API.
//!
//! One test binary with modules, so the server is linked once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Runs each hostile case (a `pub async fn(&TestServer)` of its module) as a test of its
/// own against a fresh in-process server. The battery binary (`tests/battery.rs`) defines
/// this macro as nothing and runs the same cases one after another against one server
/// process, with canaries beside them.
macro_rules! standalone {
    ($($case:ident),+ $(,)?) => {
        standalone!(@in standalone, start; $($case),+);
    };
    (@in $module:ident, $start:ident; $($case:ident),+) => {
        mod $module {
            $(
                #[tokio::test]
                async fn $case() {
                    let s = crate::support::TestServer::$start().await;
                    super::$case(&s).await;
                    s.stop().await;
                }
            )+
        }
    };
}

/// Like `standalone!`, for cases that measure the server process itself (its descriptors):
/// each runs against a `ferrohub serve` child process, since in this binary the other
/// tests' sockets would be counted too.
macro_rules! standalone_in_own_process {
    ($($case:ident),+ $(,)?) => {
        standalone!(@in standalone_in_own_process, spawn_binary; $($case),+);
    };
}

/// Connect/subscribe/unsubscribe/disconnect cycles of hostile case E10 when it runs alone.
const E10_CYCLES: usize = 500;

#[path = "e2e/support.rs"]
mod support;

#[path = "e2e/auth.rs"]
mod auth;
#[path = "e2e/c2d.rs"]
mod c2d;
#[path = "e2e/certs.rs"]
mod certs;
#[path = "e2e/connect_rules.rs"]
mod connect_rules;
#[path = "e2e/framing.rs"]
mod framing;
#[path = "e2e/hub_settings.rs"]
mod hub_settings;
#[path = "e2e/hubs.rs"]
mod hubs;
#[path = "e2e/ip_filter.rs"]
mod ip_filter;
#[path = "e2e/methods.rs"]
mod methods;
#[path = "e2e/query.rs"]
mod query;
#[path = "e2e/registry.rs"]
mod registry;
#[path = "e2e/routing.rs"]
mod routing;
#[path = "e2e/telemetry.rs"]
mod telemetry;
#[path = "e2e/tls_policy.rs"]
mod tls_policy;
#[path = "e2e/twins.rs"]
mod twins;
#[path = "e2e/websocket.rs"]
mod websocket;
#[path = "e2e/x509.rs"]
mod x509;
#[path = "e2e/x509_ca.rs"]
mod x509_ca;
#[path = "e2e/x509_restarts.rs"]
mod x509_restarts;
