//! MQTT over WebSockets on the HTTPS port, as the SDKs' WebSocket transports use it.

use bytes::BytesMut;
use ferrohub::client::tls_config;
use ferrohub_mqtt::{ConnectReturnCode, Limits, Packet, Publish, QoS, decode, encode};
use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::{HOST, TestServer, connect_packet, device_token};

async fn websocket(
    s: &TestServer,
    protocol: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>,
    tokio_tungstenite::tungstenite::Error,
> {
    websocket_with(s, tls_config(&s.ca()).unwrap(), protocol).await
}

/// The WebSocket with the given client TLS configuration (one presenting a certificate).
async fn websocket_with(
    s: &TestServer,
    tls: std::sync::Arc<rustls::ClientConfig>,
    protocol: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>,
    tokio_tungstenite::tungstenite::Error,
> {
    let tcp = TcpStream::connect(s.https_addr).await.unwrap();
    let tls = TlsConnector::from(tls)
        .connect(ServerName::try_from(HOST).unwrap(), tcp)
        .await
        .unwrap();
    let mut request = format!("wss://{HOST}/$iothub/websocket")
        .into_client_request()
        .unwrap();
    if let Some(p) = protocol {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", p.parse().unwrap());
    }
    tokio_tungstenite::client_async(request, tls)
        .await
        .map(|(ws, _)| ws)
}

fn frame(packet: &Packet) -> Message {
    let mut out = BytesMut::new();
    encode(packet, &mut out).unwrap();
    Message::Binary(out.freeze())
}

/// Reads frames until one packet decodes.
async fn next_packet(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>,
    buf: &mut BytesMut,
) -> Packet {
    loop {
        if let Some(p) = decode(buf, &Limits::default()).unwrap() {
            return p;
        }
        match tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
            .await
            .expect("an answer")
        {
            Some(Ok(Message::Binary(b))) => buf.extend_from_slice(&b),
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }
}

pub async fn a_device_connects_and_publishes_over_websockets(s: &TestServer) {
    let key = s.create_device("wsdev").await;
    let mut ws = websocket(s, Some("mqtt")).await.unwrap();
    // One CONNECT split across two frames, then a PUBLISH and a PINGREQ in one frame.
    let mut connect = BytesMut::new();
    encode(
        &connect_packet("wsdev", Some(device_token("wsdev", &key, 60))),
        &mut connect,
    )
    .unwrap();
    let tail = connect.split_off(7);
    ws.send(Message::Binary(connect.freeze())).await.unwrap();
    ws.send(Message::Binary(tail.freeze())).await.unwrap();
    let mut buf = BytesMut::new();
    assert!(
        matches!(next_packet(&mut ws, &mut buf).await, Packet::ConnAck(a) if a.code == ConnectReturnCode::Accepted)
    );
    let mut both = BytesMut::new();
    encode(
        &Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: "devices/wsdev/messages/events/via=ws".into(),
            packet_id: Some(3),
            payload: bytes::Bytes::from_static(b"over websockets"),
        }),
        &mut both,
    )
    .unwrap();
    encode(&Packet::PingReq, &mut both).unwrap();
    ws.send(Message::Binary(both.freeze())).await.unwrap();
    // The PINGRESP may overtake the PUBACK, which waits for the fsync.
    let mut answers = vec![
        next_packet(&mut ws, &mut buf).await,
        next_packet(&mut ws, &mut buf).await,
    ];
    answers.sort_by_key(|p| matches!(p, Packet::PingResp));
    assert_eq!(answers, vec![Packet::PubAck(3), Packet::PingResp]);
    let e = &s.events("wsdev", 1).await[0];
    assert_eq!(e["body"], "over websockets");
    assert_eq!(e["properties"]["via"], "ws");
    ws.send(frame(&Packet::Disconnect)).await.unwrap();
}

pub async fn an_upgrade_without_the_mqtt_subprotocol_is_refused(s: &TestServer) {
    assert!(websocket(s, None).await.is_err());
    assert!(websocket(s, Some("amqp")).await.is_err());
}

pub async fn text_frames_close_the_connection(s: &TestServer) {
    let mut ws = websocket(s, Some("mqtt")).await.unwrap();
    ws.send(Message::Text("hello".into())).await.unwrap();
    let end = tokio::time::timeout(std::time::Duration::from_secs(2), ws.next())
        .await
        .expect("closed promptly");
    assert!(
        matches!(end, None | Some(Ok(Message::Close(_))) | Some(Err(_))),
        "{end:?}"
    );
}

pub async fn an_x509_device_authenticates_with_its_certificate_over_websockets(s: &TestServer) {
    use crate::certs::{Spec, Version, client_config, self_signed, sha1_hex};
    let cert = self_signed(Spec::device("wsx509"));
    crate::x509::register_self_signed(s, "wsx509", &sha1_hex(&cert.der)).await;
    let presenting = client_config(
        s,
        vec![cert.der.clone()],
        cert.private_key(),
        Version::Tls12,
    );
    let mut ws = websocket_with(s, presenting, Some("mqtt")).await.unwrap();
    ws.send(frame(&connect_packet("wsx509", None)))
        .await
        .unwrap();
    let mut buf = BytesMut::new();
    match next_packet(&mut ws, &mut buf).await {
        Packet::ConnAck(a) => assert_eq!(a.code, ConnectReturnCode::Accepted),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    ws.send(frame(&Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "devices/wsx509/messages/events/".into(),
        packet_id: Some(3),
        payload: bytes::Bytes::from_static(b"over wss with a certificate"),
    })))
    .await
    .unwrap();
    assert_eq!(next_packet(&mut ws, &mut buf).await, Packet::PubAck(3));
    let event = &s.events("wsx509", 1).await[0];
    assert!(
        event["systemProperties"]["iothub-connection-auth-method"]
            .as_str()
            .unwrap()
            .contains("x509Certificate")
    );

    // The same CONNECT without the certificate has no credentials.
    let mut bare = websocket(s, Some("mqtt")).await.unwrap();
    bare.send(frame(&connect_packet("wsx509", None)))
        .await
        .unwrap();
    let mut buf = BytesMut::new();
    match next_packet(&mut bare, &mut buf).await {
        Packet::ConnAck(a) => assert_ne!(a.code, ConnectReturnCode::Accepted),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

/// A15: an unmasked client frame, or a frame declaring 1 GiB, ends the connection at once;
/// nothing waits for (or reserves room for) the declared gigabyte.
pub async fn unmasked_and_gigabyte_frames_close_the_connection(s: &TestServer) {
    use tokio::io::AsyncWriteExt;
    let unmasked: Vec<u8> = vec![0x82, 0x02, 0xc0, 0x00];
    let mut gigabyte: Vec<u8> = vec![0x82, 0xff];
    gigabyte.extend_from_slice(&(1u64 << 30).to_be_bytes());
    gigabyte.extend_from_slice(&[1, 2, 3, 4, 0x10, 0x20]);
    for (name, bytes) in [("unmasked", unmasked), ("1 GiB declared", gigabyte)] {
        let mut ws = websocket(s, Some("mqtt")).await.unwrap();
        ws.get_mut().write_all(&bytes).await.unwrap();
        ws.get_mut().flush().await.unwrap();
        let end = tokio::time::timeout(std::time::Duration::from_secs(2), ws.next())
            .await
            .unwrap_or_else(|_| panic!("{name}: not closed within 2 s"));
        assert!(
            matches!(end, None | Some(Ok(Message::Close(_))) | Some(Err(_))),
            "{name}: {end:?}"
        );
    }
}

standalone!(
    a_device_connects_and_publishes_over_websockets,
    an_upgrade_without_the_mqtt_subprotocol_is_refused,
    text_frames_close_the_connection,
    an_x509_device_authenticates_with_its_certificate_over_websockets,
    unmasked_and_gigabyte_frames_close_the_connection,
);
