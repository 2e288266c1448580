//! Which hub a connection or request reaches: the TLS server name picks the certificate
//! (hubs created while running included), the HTTP `Host` picks the hub when it names one.

use std::net::SocketAddr;

use ferrohub::client::{ApiClient, collect, tls_config};
use ferrohub::connection_string::ServiceConnectionString;
use ferrohub_mqtt::{ConnectReturnCode, Packet};
use hyper::{Method, StatusCode};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::support::{HOST, Next, RawClient, TestServer, connect_packet, unix_now};

const HUB_B: &str = "plant2";
const HUB_B_HOST: &str = "plant2.local";

/// Creates hub B while the server runs; returns an owner client of hub B (dialling the
/// server's address, checking the certificate for hub B's own name).
async fn create_hub_b(s: &TestServer) -> ApiClient {
    s.api()
        .call_ok(
            Method::POST,
            "/ferrohub/hubs",
            Some(json!({"name": HUB_B, "hostname": HUB_B_HOST})),
        )
        .await
        .unwrap();
    let hub = ferrohub_protocol::HubName::new(HUB_B).unwrap();
    let owner = s.hub().directory().policy(&hub, "iothubowner").unwrap();
    let mut client = s.api_as(ServiceConnectionString {
        host_name: HUB_B_HOST.into(),
        key_name: owner.name,
        key: owner.primary_key,
    });
    client.server_name = HUB_B_HOST.into();
    client
}

/// The leaf certificate the server presents to a client that asks for `name` and trusts
/// only the data directory's `ca.pem`; an error if that client refuses the handshake.
async fn presented_leaf(
    s: &TestServer,
    addr: SocketAddr,
    name: ServerName<'static>,
) -> Result<CertificateDer<'static>, std::io::Error> {
    let tcp = TcpStream::connect(addr).await?;
    let tls = TlsConnector::from(tls_config(&s.ca()).unwrap())
        .connect(name, tcp)
        .await?;
    let (_, connection) = tls.get_ref();
    Ok(connection.peer_certificates().unwrap()[0].clone())
}

fn dns(name: &str) -> ServerName<'static> {
    ServerName::try_from(name.to_owned()).unwrap()
}

/// The leaf of `server.pem`, the certificate issued at start.
fn start_leaf(s: &TestServer) -> CertificateDer<'static> {
    CertificateDer::pem_file_iter(s.dir.path().join("server.pem"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_hub_created_while_running_is_served_a_certificate_for_its_name_on_both_ports() {
    let s = TestServer::start().await;
    let start = start_leaf(&s);
    // Before the hub exists its name is nobody's: the start certificate, which the
    // client refuses for that name.
    assert!(
        presented_leaf(&s, s.https_addr, dns(HUB_B_HOST))
            .await
            .is_err()
    );
    let hub_b = create_hub_b(&s).await;

    let over_https = presented_leaf(&s, s.https_addr, dns(HUB_B_HOST))
        .await
        .unwrap_or_else(|e| panic!("HTTPS handshake for {HUB_B_HOST}: {e}"));
    let over_mqtt = presented_leaf(&s, s.mqtt_addr, dns(HUB_B_HOST))
        .await
        .unwrap_or_else(|e| panic!("MQTT handshake for {HUB_B_HOST}: {e}"));
    assert_ne!(over_https, start, "hub B needs a certificate of its own");
    assert_eq!(
        over_mqtt, over_https,
        "both ports serve the one certificate issued for hub B"
    );

    // The names known at start, and dialling by IP address, still get the start certificate.
    for addr in [s.https_addr, s.mqtt_addr] {
        for name in [dns(HOST), dns("alias.local"), ServerName::from(addr.ip())] {
            let leaf = presented_leaf(&s, addr, name.clone())
                .await
                .unwrap_or_else(|e| panic!("handshake for {name:?} on {addr}: {e}"));
            assert_eq!(leaf, start, "{name:?} on {addr}");
        }
        // A name that is no hub's gets no certificate of its own.
        assert!(presented_leaf(&s, addr, dns("nobody.local")).await.is_err());
    }

    // Hub B is usable by its own name: its REST API, and a device of it over MQTT.
    let device = hub_b
        .call_ok(Method::PUT, "/devices/b-device", Some(json!({})))
        .await
        .unwrap()
        .json()
        .unwrap();
    let key = device["authentication"]["symmetricKey"]["primaryKey"]
        .as_str()
        .unwrap();
    let tcp = TcpStream::connect(s.mqtt_addr).await.unwrap();
    let tls = TlsConnector::from(tls_config(&s.ca()).unwrap())
        .connect(dns(HUB_B_HOST), tcp)
        .await
        .unwrap();
    let mut raw = RawClient {
        tls,
        buf: bytes::BytesMut::new(),
    };
    let token = ferrohub_protocol::sas::sign(
        &format!("{HUB_B_HOST}/devices/b-device"),
        key,
        unix_now() + 60,
        None,
    )
    .unwrap();
    let Packet::Connect(mut connect) = connect_packet("b-device", Some(token)) else {
        unreachable!()
    };
    connect.username = Some(format!("{HUB_B_HOST}/b-device/?api-version=2021-04-12"));
    raw.send(&Packet::Connect(connect)).await;
    assert!(
        matches!(raw.next().await, Next::Packet(Packet::ConnAck(a)) if a.code == ConnectReturnCode::Accepted)
    );
    s.stop().await;
}

/// Status and `Message` of a request with `Host` set to `host`.
async fn with_host(client: &ApiClient, path: &str, host: &str) -> (StatusCode, String) {
    let response = client
        .send_with_headers(Method::GET, path, None, &[("Host", host.to_owned())])
        .await
        .unwrap();
    let status = response.status();
    if !status.is_success() {
        let body = collect(response).await.unwrap();
        let message = body.json().unwrap()["Message"].as_str().unwrap().to_owned();
        return (status, message);
    }
    // The telemetry stream never ends; the status is all that matters here.
    (status, String::new())
}

#[tokio::test]
async fn a_request_for_a_hub_by_host_needs_a_token_of_that_hub() {
    let s = TestServer::start().await;
    let hub_b = create_hub_b(&s).await;
    hub_b
        .call_ok(Method::PUT, "/devices/only-in-b", Some(json!({})))
        .await
        .unwrap();
    // hub_b's token over a connection to the default name, so only `Host` differs.
    let mut token_b = hub_b;
    token_b.server_name = HOST.into();
    let token_a = s.api();

    // Host names hub B, the token is the default hub's: refused, whatever the route.
    for path in [
        "/devices",
        "/devices/only-in-b",
        "/ferrohub/hubs/default",
        "/ferrohub/telemetry?from=earliest",
    ] {
        for host in [HUB_B_HOST, "PLANT2.local:443"] {
            let (status, message) = with_host(&token_a, path, host).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} with Host {host}");
            assert!(
                message.starts_with("ErrorCode:IotHubUnauthorizedAccess;")
                    && message.contains("for another hub"),
                "{path}: {message}"
            );
        }
    }
    // An alias of the default hub names the default hub too, so hub B's token is refused.
    let (status, _) = with_host(&token_b, "/devices/only-in-b", "alias.local").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Host names hub B and so does the token: hub B's registry.
    let (status, _) = with_host(&token_b, "/devices/only-in-b", HUB_B_HOST).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = with_host(&token_a, "/devices/only-in-b", HOST).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the default hub has no such device"
    );

    // An IP address, localhost or a name that is no hub's: the token's hub serves, as
    // when a local back end dials 127.0.0.1.
    let ip = s.https_addr.to_string();
    for host in [
        ip.as_str(),
        "127.0.0.1",
        "localhost",
        "[::1]:443",
        "elsewhere.example",
    ] {
        let (status, message) = with_host(&token_b, "/devices/only-in-b", host).await;
        assert_eq!(status, StatusCode::OK, "Host {host}: {message}");
        let (status, _) = with_host(&token_b, "/ferrohub/hubs/plant2", host).await;
        assert_eq!(status, StatusCode::OK, "Host {host}");
    }
    s.stop().await;
}
