//! A device written on our codec for the tests that drive the real binary: TLS to the
//! server's MQTT port, a SAS token, then packets in and out.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use ferrohub::client::tls_config;
use ferrohub_mqtt::{ConnAck, Connect, Limits, Packet, decode, encode};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

pub struct Device {
    tls: TlsStream<TcpStream>,
    inbuf: BytesMut,
}

impl Device {
    /// Connects as `device` over TLS (trusting `ca`) and sends CONNECT with a one-hour
    /// token. Returns the device and the server's CONNACK.
    pub async fn connect(
        ca: &Path,
        port: u16,
        device: &str,
        key: &str,
        clean_session: bool,
    ) -> (Device, ConnAck) {
        Self::try_connect(ca, port, device, key, clean_session)
            .await
            .expect("connected and answered with a CONNACK")
    }

    /// `connect`, or `None` when the server cannot be reached or ends the connection before
    /// its CONNACK (a server being killed).
    pub async fn try_connect(
        ca: &Path,
        port: u16,
        device: &str,
        key: &str,
        clean_session: bool,
    ) -> Option<(Device, ConnAck)> {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let tls = TlsConnector::from(tls_config(ca).unwrap())
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .ok()?;
        let expiry = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600;
        let token =
            ferrohub_protocol::sas::sign(&format!("localhost/devices/{device}"), key, expiry, None)
                .unwrap();
        let mut link = Device {
            tls,
            inbuf: BytesMut::new(),
        };
        let connect = Packet::Connect(Connect {
            protocol_level: 4,
            clean_session,
            keep_alive: 60,
            client_id: device.to_owned(),
            will: None,
            username: Some(format!("localhost/{device}/?api-version=2021-04-12")),
            password: Some(token.into()),
        });
        if !link.try_send(&[connect]).await {
            return None;
        }
        match link.next(Duration::from_secs(10)).await? {
            Packet::ConnAck(ack) => Some((link, ack)),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    pub async fn send(&mut self, packet: &Packet) {
        assert!(
            self.try_send(std::slice::from_ref(packet)).await,
            "the connection is open"
        );
    }

    /// Writes `packets` in one go; false if the connection is gone.
    pub async fn try_send(&mut self, packets: &[Packet]) -> bool {
        let mut out = BytesMut::new();
        for packet in packets {
            encode(packet, &mut out).unwrap();
        }
        self.tls.write_all(&out).await.is_ok()
    }

    /// The next packet, or `None` if the connection ends or nothing comes within `within`.
    pub async fn next(&mut self, within: Duration) -> Option<Packet> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Ok(Some(packet)) = decode(&mut self.inbuf, &Limits::default()) {
                return Some(packet);
            }
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout_at(deadline, self.tls.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => self.inbuf.extend_from_slice(&chunk[..n]),
                _ => return None,
            }
        }
    }
}
