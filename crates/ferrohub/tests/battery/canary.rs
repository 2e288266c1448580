//! Canary devices for the hostile battery's invariant I3: a device that keeps exchanging
//! telemetry, cloud-to-device messages, twin patches and direct methods with the server,
//! one operation after another, timing each, while the attacks run beside it.
//!
//! Two run at once: one over MQTT/TLS on the MQTT port, one over MQTT/WebSockets on the
//! HTTPS port. Each is written on the codec, not on an MQTT library, so the battery sees
//! exactly what the server sends (a stray packet is a failure, not something a library
//! swallows).

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferrohub::client::ApiClient;
use ferrohub_mqtt::{ConnectReturnCode, Limits, Packet, Publish, QoS, Subscribe, decode, encode};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hyper::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::{HOST, TestServer, connect_packet, device_token};

/// Longest wait for any one operation before it counts as lost.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between rounds, so the canaries measure the server rather than load it.
const ROUND_PACE: Duration = Duration::from_millis(20);

/// How the canary reaches the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tls,
    WebSocket,
}

/// The four kinds of traffic a round exchanges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    Telemetry,
    Twin,
    CloudToDevice,
    Method,
}

pub const OPERATIONS: [Operation; 4] = [
    Operation::Telemetry,
    Operation::Twin,
    Operation::CloudToDevice,
    Operation::Method,
];

/// One completed operation.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub operation: Operation,
    pub finished: Instant,
    pub latency: Duration,
}

/// What a canary has observed so far.
#[derive(Default)]
struct Record {
    samples: Vec<Sample>,
    /// The first failure (a lost or wrong answer); the canary stops at it.
    failure: Option<(Instant, String)>,
    /// Telemetry messages acknowledged with PUBACK, numbered 1..=acked.
    acked: u64,
}

pub struct Canary {
    pub device: String,
    pub transport: Transport,
    record: Arc<Mutex<Record>>,
    rounds: watch::Receiver<u64>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// What the server sent that the round in progress waits for.
#[derive(Debug)]
enum Incoming {
    PubAck(u16),
    TwinResponse { status: u16, rid: String },
    CloudToDevice(Bytes),
}

impl Canary {
    /// Creates the device and connects it from `from` (a loopback address).
    pub async fn start(s: &TestServer, device: &str, transport: Transport, from: IpAddr) -> Self {
        assert!(device.starts_with(crate::support::CANARY_PREFIX));
        let key = s.create_device(device).await;
        let (writer, mut reader) = match transport {
            Transport::Tls => tls_link(s, from).await,
            Transport::WebSocket => websocket_link(s, from).await,
        };
        let (to_server, outgoing) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(writer, outgoing));
        to_server
            .send(connect_packet(
                device,
                Some(device_token(device, &key, 24 * 3600)),
            ))
            .unwrap();
        match reader.next().await {
            Some(Packet::ConnAck(a)) if a.code == ConnectReturnCode::Accepted => {}
            other => panic!("canary {device}: expected CONNACK 0, got {other:?}"),
        }
        to_server
            .send(Packet::Subscribe(Subscribe {
                packet_id: 1,
                filters: vec![
                    (
                        format!("devices/{device}/messages/devicebound/#"),
                        QoS::AtLeastOnce,
                    ),
                    ("$iothub/twin/res/#".into(), QoS::AtMostOnce),
                    ("$iothub/methods/POST/#".into(), QoS::AtMostOnce),
                ],
            }))
            .unwrap();
        match reader.next().await {
            Some(Packet::SubAck(a)) if a.packet_id == 1 => {}
            other => panic!("canary {device}: expected SUBACK, got {other:?}"),
        }
        let (incoming_tx, incoming) = mpsc::unbounded_channel();
        tokio::spawn(read_loop(reader, to_server.clone(), incoming_tx));
        let record = Arc::new(Mutex::new(Record::default()));
        let (rounds_tx, rounds) = watch::channel(0);
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(
            Driver {
                device: device.to_owned(),
                api: s.api(),
                to_server,
                incoming,
                record: record.clone(),
            }
            .run(rounds_tx, stop_rx),
        );
        Self {
            device: device.to_owned(),
            transport,
            record,
            rounds,
            stop,
            task,
        }
    }

    /// Waits until the canary has completed `rounds` more rounds; Err with its failure if
    /// it stops first.
    pub async fn complete_rounds(&mut self, rounds: u64) -> Result<(), String> {
        let target = *self.rounds.borrow() + rounds;
        let patience = OPERATION_TIMEOUT * 4 * u32::try_from(rounds).unwrap_or(u32::MAX);
        let reached = tokio::time::timeout(patience, self.rounds.wait_for(|r| *r >= target))
            .await
            .is_ok_and(|r| r.is_ok());
        match reached {
            true => Ok(()),
            false => Err(self
                .failure()
                .unwrap_or_else(|| format!("{} completed no round", self.device))),
        }
    }

    /// Every completed operation so far, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.record.lock().unwrap().samples.clone()
    }

    pub fn failure(&self) -> Option<String> {
        self.record
            .lock()
            .unwrap()
            .failure
            .as_ref()
            .map(|(_, f)| f.clone())
    }

    /// Stops after the round in progress; returns how many telemetry messages were
    /// acknowledged (numbered 1..=n in the `n` application property).
    pub async fn stop(self) -> u64 {
        let _ = self.stop.send(true);
        self.task.await.unwrap();
        self.record.lock().unwrap().acked
    }
}

/// The 99th percentile of `latencies` (the largest, below 100 samples).
pub fn p99(latencies: &mut [Duration]) -> Option<Duration> {
    if latencies.is_empty() {
        return None;
    }
    latencies.sort_unstable();
    let rank = (latencies.len() * 99).div_ceil(100);
    Some(latencies[rank.saturating_sub(1)])
}

struct Driver {
    device: String,
    api: ApiClient,
    to_server: mpsc::UnboundedSender<Packet>,
    incoming: mpsc::UnboundedReceiver<Incoming>,
    record: Arc<Mutex<Record>>,
}

impl Driver {
    async fn run(mut self, rounds: watch::Sender<u64>, stop: watch::Receiver<bool>) {
        let mut pace = tokio::time::interval(ROUND_PACE);
        let mut round: u64 = 0;
        while !*stop.borrow() {
            pace.tick().await;
            round += 1;
            for operation in OPERATIONS {
                let started = Instant::now();
                let outcome =
                    tokio::time::timeout(OPERATION_TIMEOUT, self.exchange(operation, round))
                        .await
                        .unwrap_or_else(|_| Err(format!("no answer within {OPERATION_TIMEOUT:?}")));
                let mut record = self.record.lock().unwrap();
                match outcome {
                    Ok(()) => record.samples.push(Sample {
                        operation,
                        finished: Instant::now(),
                        latency: started.elapsed(),
                    }),
                    Err(e) => {
                        record.failure = Some((
                            Instant::now(),
                            format!("{} round {round} {operation:?}: {e}", self.device),
                        ));
                        return;
                    }
                }
                if operation == Operation::Telemetry {
                    record.acked = round;
                }
            }
            rounds.send_replace(round);
        }
    }

    async fn exchange(&mut self, operation: Operation, round: u64) -> Result<(), String> {
        let device = self.device.clone();
        match operation {
            Operation::Telemetry => {
                let packet_id = u16::try_from(round % 60_000 + 1).unwrap();
                self.publish(
                    format!("devices/{device}/messages/events/n={round}"),
                    QoS::AtLeastOnce,
                    Some(packet_id),
                    Bytes::from(format!("telemetry {round}")),
                )?;
                match self.incoming().await? {
                    Incoming::PubAck(id) if id == packet_id => Ok(()),
                    other => Err(format!("expected PUBACK {packet_id}, got {other:?}")),
                }
            }
            Operation::Twin => {
                let rid = round.to_string();
                self.publish(
                    format!("$iothub/twin/PATCH/properties/reported/?$rid={rid}"),
                    QoS::AtMostOnce,
                    None,
                    Bytes::from(json!({ "round": round }).to_string()),
                )?;
                match self.incoming().await? {
                    Incoming::TwinResponse {
                        status: 204,
                        rid: r,
                    } if r == rid => Ok(()),
                    other => Err(format!("expected twin status 204 for {rid}, got {other:?}")),
                }
            }
            Operation::CloudToDevice => {
                let body = format!("c2d {round}");
                let sent = self
                    .api
                    .call(
                        Method::POST,
                        &format!("/ferrohub/devices/{device}/messages/devicebound"),
                        Some(json!({ "body": body })),
                    )
                    .await
                    .map_err(|e| format!("send: {e}"))?;
                if sent.status != StatusCode::CREATED {
                    return Err(format!("send answered {}", sent.error_line()));
                }
                match self.incoming().await? {
                    Incoming::CloudToDevice(payload) if payload == body.as_bytes() => Ok(()),
                    other => Err(format!("expected the message {body:?}, got {other:?}")),
                }
            }
            Operation::Method => {
                let r = self
                    .api
                    .call(
                        Method::POST,
                        &format!("/twins/{device}/methods"),
                        Some(json!({
                            "methodName": "echo",
                            "payload": { "round": round },
                            "responseTimeoutInSeconds": 5,
                        })),
                    )
                    .await
                    .map_err(|e| format!("invoke: {e}"))?;
                let answer = r.json().map_err(|e| format!("invoke answer: {e}"))?;
                if r.status == StatusCode::OK
                    && answer == json!({ "status": 200, "payload": { "round": round } })
                {
                    Ok(())
                } else {
                    Err(format!("invoke answered {} {answer}", r.status))
                }
            }
        }
    }

    fn publish(
        &self,
        topic: String,
        qos: QoS,
        packet_id: Option<u16>,
        payload: Bytes,
    ) -> Result<(), String> {
        self.to_server
            .send(Packet::Publish(Publish {
                dup: false,
                qos,
                retain: false,
                topic,
                packet_id,
                payload,
            }))
            .map_err(|_| "the connection is gone".to_owned())
    }

    async fn incoming(&mut self) -> Result<Incoming, String> {
        self.incoming
            .recv()
            .await
            .ok_or_else(|| "the server closed the connection".to_owned())
    }
}

/// Answers method requests and acknowledges C2D messages at once; hands everything the
/// round waits for to the driver. Ends (closing `incoming`) when the connection closes or
/// the server sends something a device should never get.
async fn read_loop(
    mut reader: Reader,
    to_server: mpsc::UnboundedSender<Packet>,
    incoming: mpsc::UnboundedSender<Incoming>,
) {
    while let Some(packet) = reader.next().await {
        let handed = match packet {
            Packet::PubAck(id) => incoming.send(Incoming::PubAck(id)),
            Packet::Publish(p) => {
                if let Some(rest) = p.topic.strip_prefix("$iothub/methods/POST/") {
                    let Some((_, rid)) = rest.split_once("/?$rid=") else {
                        return;
                    };
                    let _ = to_server.send(Packet::Publish(Publish {
                        dup: false,
                        qos: QoS::AtMostOnce,
                        retain: false,
                        topic: format!("$iothub/methods/res/200/?$rid={rid}"),
                        packet_id: None,
                        payload: p.payload,
                    }));
                    Ok(())
                } else if let Some(rest) = p.topic.strip_prefix("$iothub/twin/res/") {
                    let Some((status, query)) = rest.split_once("/?") else {
                        return;
                    };
                    let rid = query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix("$rid="))
                        .unwrap_or_default();
                    incoming.send(Incoming::TwinResponse {
                        status: status.parse().unwrap_or(0),
                        rid: rid.to_owned(),
                    })
                } else if p.topic.contains("/messages/devicebound/") {
                    if let Some(id) = p.packet_id {
                        let _ = to_server.send(Packet::PubAck(id));
                    }
                    incoming.send(Incoming::CloudToDevice(p.payload))
                } else {
                    return;
                }
            }
            Packet::PingResp => Ok(()),
            _ => return,
        };
        if handed.is_err() {
            return;
        }
    }
}

async fn write_loop(mut writer: Writer, mut outgoing: mpsc::UnboundedReceiver<Packet>) {
    while let Some(packet) = outgoing.recv().await {
        if writer.send(&packet).await.is_err() {
            return;
        }
    }
}

type WebSocket = WebSocketStream<TlsStream<TcpStream>>;

enum Writer {
    Tls(WriteHalf<TlsStream<TcpStream>>),
    WebSocket(SplitSink<WebSocket, Message>),
}

enum Reader {
    Tls(ReadHalf<TlsStream<TcpStream>>, BytesMut),
    WebSocket(SplitStream<WebSocket>, BytesMut),
}

impl Writer {
    async fn send(&mut self, packet: &Packet) -> Result<(), ()> {
        let mut out = BytesMut::new();
        encode(packet, &mut out).map_err(|_| ())?;
        match self {
            Self::Tls(w) => {
                w.write_all(&out).await.map_err(|_| ())?;
                w.flush().await.map_err(|_| ())
            }
            Self::WebSocket(w) => w.send(Message::Binary(out.freeze())).await.map_err(|_| ()),
        }
    }
}

impl Reader {
    /// The next packet; None when the connection closed or sent bytes that do not decode.
    async fn next(&mut self) -> Option<Packet> {
        loop {
            let buf = match self {
                Self::Tls(_, buf) | Self::WebSocket(_, buf) => buf,
            };
            if let Some(p) = decode(buf, &Limits::default()).ok()? {
                return Some(p);
            }
            match self {
                Self::Tls(r, buf) => {
                    let mut chunk = [0u8; 4096];
                    let n = r.read(&mut chunk).await.ok()?;
                    if n == 0 {
                        return None;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                Self::WebSocket(r, buf) => match r.next().await? {
                    Ok(Message::Binary(b)) => buf.extend_from_slice(&b),
                    Ok(Message::Ping(_) | Message::Pong(_)) => {}
                    _ => return None,
                },
            }
        }
    }
}

async fn tls_link(s: &TestServer, from: IpAddr) -> (Writer, Reader) {
    let (r, w) = tokio::io::split(s.tls_from(Some(from), s.mqtt_addr).await);
    (Writer::Tls(w), Reader::Tls(r, BytesMut::new()))
}

async fn websocket_link(s: &TestServer, from: IpAddr) -> (Writer, Reader) {
    let tls = s.tls_from(Some(from), s.https_addr).await;
    let mut request = format!("wss://{HOST}/$iothub/websocket")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "mqtt".parse().unwrap());
    let (ws, _) = tokio_tungstenite::client_async(request, tls).await.unwrap();
    let (w, r) = ws.split();
    (Writer::WebSocket(w), Reader::WebSocket(r, BytesMut::new()))
}
