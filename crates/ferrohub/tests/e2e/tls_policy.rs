//! Hostile I1: what the TLS endpoints (MQTT on 8883, HTTPS on 443) refuse, checked with
//! hand-built ClientHellos so that the offer is exactly what the test names: protocol
//! versions below TLS 1.2, suites without ECDHE or AEAD, compression. A control hello,
//! identical but for an acceptable offer, gets a ServerHello, so each refusal is due to
//! the one thing changed. Also the handshake deadline for a client that stalls.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{HOST, TestServer};

const TLS_1_2: u16 = 0x0303;
/// ECDHE-ECDSA with AES-128-GCM: acceptable (the server's key is ECDSA P-256).
const ECDHE_ECDSA_AES128_GCM: u16 = 0xc02b;
/// ECDHE-ECDSA with AES-128-CBC-SHA: ECDHE, but not AEAD.
const ECDHE_ECDSA_AES128_CBC: u16 = 0xc009;
/// RSA key exchange with AES-128-GCM: AEAD, but no forward secrecy.
const RSA_AES128_GCM: u16 = 0x009c;
const NULL_COMPRESSION: u8 = 0;
const DEFLATE: u8 = 1;

/// Alert descriptions (RFC 8446 §6).
const HANDSHAKE_FAILURE: u8 = 40;
const ILLEGAL_PARAMETER: u8 = 47;
const PROTOCOL_VERSION: u8 = 70;

/// What the server sent first.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    ServerHello,
    /// A fatal alert with this description.
    Alert(u8),
    Closed,
}

fn u16_be(v: usize) -> [u8; 2] {
    u16::try_from(v).unwrap().to_be_bytes()
}

fn extension(kind: u16, body: &[u8]) -> Vec<u8> {
    [&kind.to_be_bytes()[..], &u16_be(body.len()), body].concat()
}

/// A ClientHello record: `version` as both record and hello version, the given suites and
/// compression methods, SNI for `HOST`, and the extensions a TLS 1.2 ECDHE handshake needs
/// (groups x25519 and P-256, ECDSA and RSA-PSS signatures, uncompressed points).
fn client_hello(version: u16, suites: &[u16], compression: &[u8]) -> Vec<u8> {
    let name = HOST.as_bytes();
    let sni_entry = [&[0u8][..], &u16_be(name.len()), name].concat();
    let sni = [&u16_be(sni_entry.len())[..], &sni_entry].concat();
    let extensions = [
        extension(0x0000, &sni),
        extension(0x000a, &[0, 4, 0x00, 0x1d, 0x00, 0x17]),
        extension(0x000b, &[1, 0]),
        extension(0x000d, &[0, 4, 0x04, 0x03, 0x08, 0x04]),
    ]
    .concat();
    let suites: Vec<u8> = suites.iter().flat_map(|s| s.to_be_bytes()).collect();
    let body = [
        &version.to_be_bytes()[..],
        &[7u8; 32],
        &[0],
        &u16_be(suites.len()),
        &suites,
        &[u8::try_from(compression.len()).unwrap()],
        compression,
        &u16_be(extensions.len()),
        &extensions,
    ]
    .concat();
    let len = u32::try_from(body.len()).unwrap().to_be_bytes();
    let handshake = [&[1u8][..], &len[1..], &body].concat();
    [
        &[22u8][..],
        &version.to_be_bytes(),
        &u16_be(handshake.len()),
        &handshake,
    ]
    .concat()
}

/// Sends `hello` to `addr` and reads the first record of the answer.
async fn answer(addr: SocketAddr, hello: &[u8]) -> Answer {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(hello).await.unwrap();
    let mut header = [0u8; 5];
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_exact(&mut header)).await;
    if read
        .expect("the server neither answered nor closed within 5 s")
        .is_err()
    {
        return Answer::Closed;
    }
    let mut body = vec![0u8; usize::from(u16::from_be_bytes([header[3], header[4]]))];
    tcp.read_exact(&mut body).await.unwrap();
    match (header[0], body.first()) {
        (22, Some(2)) => Answer::ServerHello,
        (21, Some(2)) => Answer::Alert(body[1]),
        other => panic!("unexpected first record {other:?}"),
    }
}

/// On both ports: TLS 1.1, 1.0 and SSL 3.0 are refused with a protocol_version alert, while
/// the same hello at TLS 1.2 is answered.
#[tokio::test]
async fn versions_below_tls_1_2_are_refused() {
    let s = TestServer::start().await;
    for addr in [s.mqtt_addr, s.https_addr] {
        let good = client_hello(TLS_1_2, &[ECDHE_ECDSA_AES128_GCM], &[NULL_COMPRESSION]);
        assert_eq!(answer(addr, &good).await, Answer::ServerHello, "{addr}");
        for (name, version) in [
            ("TLS 1.1", 0x0302),
            ("TLS 1.0", 0x0301),
            ("SSL 3.0", 0x0300),
        ] {
            let old = client_hello(version, &[ECDHE_ECDSA_AES128_GCM], &[NULL_COMPRESSION]);
            assert_eq!(
                answer(addr, &old).await,
                Answer::Alert(PROTOCOL_VERSION),
                "{name} on {addr}"
            );
        }
    }
    s.stop().await;
}

/// On both ports: a TLS 1.2 offer of only CBC (ECDHE but not AEAD) or only RSA key
/// exchange (AEAD but no ECDHE) fails with handshake_failure; compression without the
/// null method is refused.
#[tokio::test]
async fn suites_without_ecdhe_or_aead_and_compression_are_refused() {
    let s = TestServer::start().await;
    for addr in [s.mqtt_addr, s.https_addr] {
        for suite in [ECDHE_ECDSA_AES128_CBC, RSA_AES128_GCM] {
            let hello = client_hello(TLS_1_2, &[suite], &[NULL_COMPRESSION]);
            assert_eq!(
                answer(addr, &hello).await,
                Answer::Alert(HANDSHAKE_FAILURE),
                "suite {suite:#06x} on {addr}"
            );
        }
        let compressed = client_hello(TLS_1_2, &[ECDHE_ECDSA_AES128_GCM], &[DEFLATE]);
        assert_eq!(
            answer(addr, &compressed).await,
            Answer::Alert(ILLEGAL_PARAMETER),
            "deflate only, on {addr}"
        );
        // Offered next to null, deflate is simply not chosen.
        let both = client_hello(
            TLS_1_2,
            &[ECDHE_ECDSA_AES128_GCM],
            &[DEFLATE, NULL_COMPRESSION],
        );
        assert_eq!(answer(addr, &both).await, Answer::ServerHello, "{addr}");
    }
    s.stop().await;
}

/// On both ports: a client that connects and sends nothing, or half a ClientHello, is
/// closed at the handshake deadline (10 s), not kept forever.
#[tokio::test]
async fn a_stalled_handshake_is_closed_at_the_deadline() {
    let s = TestServer::start().await;
    let hello = client_hello(TLS_1_2, &[ECDHE_ECDSA_AES128_GCM], &[NULL_COMPRESSION]);
    let half = hello[..hello.len() / 2].to_vec();
    let mut stalls = Vec::new();
    for addr in [s.mqtt_addr, s.https_addr] {
        for sent in [Vec::new(), half.clone()] {
            stalls.push(tokio::spawn(async move {
                let mut tcp = TcpStream::connect(addr).await.unwrap();
                tcp.write_all(&sent).await.unwrap();
                let start = tokio::time::Instant::now();
                let mut byte = [0u8; 1];
                let read = tokio::time::timeout(Duration::from_secs(20), tcp.read(&mut byte));
                let outcome = read
                    .await
                    .expect("still open 20 s after a stalled handshake");
                assert!(
                    matches!(outcome, Ok(0) | Err(_)),
                    "closed without an answer"
                );
                start.elapsed()
            }));
        }
    }
    for stall in stalls {
        let held = stall.await.unwrap();
        assert!(
            held >= Duration::from_secs(9),
            "closed after {held:?}, before the deadline"
        );
    }
    s.stop().await;
}

/// Hostile E1 at scale: hundreds of sockets stalled in the TLS handshake and as many stalled
/// after half a CONNECT (the spec's 2,000 + 2,000 where the open-file limit allows, at least
/// 50 + 50). While they hang, a device still connects within 1 s; then every stalled
/// socket is closed at its deadline (10 s for the handshake, 10 s for CONNECT).
#[tokio::test]
async fn many_stalled_handshakes_and_half_connects_are_closed_while_devices_still_connect() {
    let s = TestServer::start().await;
    // Both ends of every socket live in this process.
    let each = usize::try_from(crate::support::open_file_limit() / 10)
        .unwrap_or(usize::MAX)
        .clamp(50, 2000);
    let key = s.create_device("dev1").await;
    let hello = client_hello(TLS_1_2, &[ECDHE_ECDSA_AES128_GCM], &[NULL_COMPRESSION]);
    let mut stalled_in_tls = Vec::with_capacity(each);
    for _ in 0..each {
        let mut tcp = TcpStream::connect(s.mqtt_addr).await.unwrap();
        tcp.write_all(&hello[..hello.len() / 2]).await.unwrap();
        stalled_in_tls.push(tcp);
    }
    let mut stalled_in_connect = Vec::with_capacity(each);
    for _ in 0..each {
        let mut raw = s.raw().await;
        // A CONNECT header declaring 32 bytes, and 3 of them.
        raw.send_bytes(&[0x10, 0x20, 0x00, 0x04, b'M']).await;
        stalled_in_connect.push(raw);
    }
    let stalled_at = tokio::time::Instant::now();

    let started = tokio::time::Instant::now();
    let mut device = s.raw().await;
    device.connect_as("dev1", &key).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "a device took {took:?} to connect beside {each} + {each} stalled sockets"
    );

    let closed_in_tls = stalled_in_tls.into_iter().map(|mut tcp| {
        tokio::spawn(async move {
            let mut byte = [0u8; 1];
            let read = tokio::time::timeout(Duration::from_secs(20), tcp.read(&mut byte)).await;
            matches!(read, Ok(Ok(0) | Err(_)))
        })
    });
    let closed_in_connect = stalled_in_connect
        .into_iter()
        .map(|mut raw| tokio::spawn(async move { raw.next_within(Duration::from_secs(20)).await }));
    let closed_in_tls: Vec<_> = closed_in_tls.collect();
    let closed_in_connect: Vec<_> = closed_in_connect.collect();
    for closed in closed_in_tls {
        assert!(closed.await.unwrap(), "a stalled handshake was closed");
    }
    for closed in closed_in_connect {
        assert_eq!(closed.await.unwrap(), crate::support::Next::Closed);
    }
    assert!(
        stalled_at.elapsed() >= Duration::from_secs(8),
        "closed at the deadlines, not before: {:?}",
        stalled_at.elapsed()
    );
    // The device that connected meanwhile is still served.
    device.send(&ferrohub_mqtt::Packet::PingReq).await;
    assert_eq!(
        device.next().await,
        crate::support::Next::Packet(ferrohub_mqtt::Packet::PingResp)
    );
    s.stop().await;
}
