//! One MQTT connection over TLS, framed with our own codec.
//!
//! Writes are queued into a buffer and flushed together, so a window of PUBLISHes goes out
//! in one TLS record where it fits, as a real client library would send them.

use std::time::Duration;

use bytes::BytesMut;
use ferrohub_mqtt::{Connect, ConnectReturnCode, Limits, Packet, QoS, SubAckCode, Subscribe};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::target::{Endpoint, Identity};

/// Why a connection did not do its job; each kind is counted in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server answered CONNECT with a non-zero return code.
    Refused(String),
    /// TCP, TLS or the CONNACK did not complete.
    ConnectFailed(String),
    /// An established connection was closed, reset or sent something unusable.
    Dropped(String),
    /// The server did not answer within the timeout.
    Timeout(String),
}

pub struct MqttConn {
    stream: TlsStream<TcpStream>,
    input: BytesMut,
    output: BytesMut,
    limits: Limits,
}

impl MqttConn {
    /// TCP, TLS, CONNECT and a successful CONNACK, all within `timeout`.
    pub async fn connect(
        endpoint: &Endpoint,
        identity: &Identity,
        keep_alive: u16,
        timeout: Duration,
    ) -> Result<MqttConn, Failure> {
        match tokio::time::timeout(timeout, Self::connect_inner(endpoint, identity, keep_alive))
            .await
        {
            Ok(result) => result,
            Err(_) => Err(Failure::Timeout(format!(
                "{}: no CONNACK within {timeout:?}",
                identity.client_id
            ))),
        }
    }

    async fn connect_inner(
        endpoint: &Endpoint,
        identity: &Identity,
        keep_alive: u16,
    ) -> Result<MqttConn, Failure> {
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            Failure::ConnectFailed(format!("{}: {what}: {e}", identity.client_id))
        };
        let tcp = TcpStream::connect(&endpoint.address)
            .await
            .map_err(|e| failed("TCP connect", &e))?;
        // Small request/response packets: Nagle would add delayed-ACK stalls to every PUBACK.
        tcp.set_nodelay(true)
            .map_err(|e| failed("TCP_NODELAY", &e))?;
        let stream = TlsConnector::from(endpoint.tls.clone())
            .connect(endpoint.server_name.clone(), tcp)
            .await
            .map_err(|e| failed("TLS handshake", &e))?;
        let mut conn = MqttConn {
            stream,
            // Small: with 10,000 idle connections the client's own buffers add up too.
            input: BytesMut::with_capacity(256),
            output: BytesMut::new(),
            limits: Limits::default(),
        };
        conn.queue(&Packet::Connect(Connect {
            protocol_level: 4,
            clean_session: true,
            keep_alive,
            client_id: identity.client_id.clone(),
            will: None,
            username: identity.username.clone(),
            password: identity.password.clone(),
        }))
        .map_err(|e| failed("encoding CONNECT", &e))?;
        conn.flush()
            .await
            .map_err(|e| failed("sending CONNECT", &e))?;
        match conn.next().await {
            Ok(Packet::ConnAck(ack)) if ack.code == ConnectReturnCode::Accepted => Ok(conn),
            Ok(Packet::ConnAck(ack)) => Err(Failure::Refused(format!(
                "{}: CONNACK {:?}",
                identity.client_id, ack.code
            ))),
            Ok(other) => Err(failed("expected CONNACK", &format!("{other:?}"))),
            Err(e) => Err(failed("waiting for CONNACK", &e)),
        }
    }

    /// Appends a packet to the output buffer; nothing is sent until [`MqttConn::flush`].
    pub fn queue(&mut self, packet: &Packet) -> Result<(), ferrohub_mqtt::EncodeError> {
        ferrohub_mqtt::encode(packet, &mut self.output)
    }

    /// Sends everything queued.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.output.is_empty() {
            self.stream.write_all(&self.output).await?;
            self.stream.flush().await?;
            self.output.clear();
        }
        Ok(())
    }

    /// The next packet from the server. Cancellation-safe: a partly received packet stays
    /// buffered, so this can sit in a `select!` next to a timer.
    pub async fn next(&mut self) -> Result<Packet, String> {
        loop {
            if let Some(packet) = self.try_next()? {
                return Ok(packet);
            }
            match self.stream.read_buf(&mut self.input).await {
                Ok(0) => return Err("the server closed the connection".to_owned()),
                Ok(_) => {}
                Err(e) => return Err(format!("read failed: {e}")),
            }
        }
    }

    /// A packet already received and buffered, without waiting for more.
    pub fn try_next(&mut self) -> Result<Option<Packet>, String> {
        ferrohub_mqtt::decode(&mut self.input, &self.limits)
            .map_err(|e| format!("undecodable packet from the server: {e}"))
    }

    /// Subscribes to one filter and waits for a SUBACK granting it. Called before the
    /// measured phase, so anything else arriving meanwhile is not expected and is dropped.
    pub async fn subscribe(
        &mut self,
        filter: &str,
        qos: QoS,
        timeout: Duration,
    ) -> Result<(), Failure> {
        let packet = Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: vec![(filter.to_owned(), qos)],
        });
        self.queue(&packet)
            .map_err(|e| Failure::Dropped(format!("cannot encode SUBSCRIBE: {e}")))?;
        self.flush()
            .await
            .map_err(|e| Failure::Dropped(format!("sending SUBSCRIBE {filter}: {e}")))?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let packet = tokio::time::timeout_at(deadline, self.next())
                .await
                .map_err(|_| {
                    Failure::Timeout(format!("no SUBACK for {filter} within {timeout:?}"))
                })?
                .map_err(Failure::Dropped)?;
            if let Packet::SubAck(ack) = packet {
                return match ack.codes.first() {
                    Some(SubAckCode::Granted(_)) => Ok(()),
                    other => Err(Failure::Refused(format!("SUBSCRIBE {filter}: {other:?}"))),
                };
            }
        }
    }

    /// Says goodbye politely; errors are ignored because the work is already done.
    pub async fn disconnect(mut self) {
        if self.queue(&Packet::Disconnect).is_ok() {
            let _ = self.flush().await;
        }
        let _ = self.stream.shutdown().await;
    }
}
