//! Server-side TLS over a TCP socket with rustls's unbuffered API, for the MQTT port.
//!
//! Why not tokio-rustls: its buffered connection keeps a 4 KiB receive buffer (and send
//! queues) for the life of every connection, and most device connections are idle most of
//! the time. Here the encrypted input and output buffers are ours, allocated while bytes are
//! in flight and released as soon as they are empty, so an idle connection holds only the
//! TLS session state. It also hands decrypted bytes straight to the reader's buffer.
//!
//! Invariants:
//! - TLS output (handshake records, alerts, encrypted application data) leaves in the order
//!   it was produced: everything goes through `outgoing`, written front to back.
//! - `incoming` holds only bytes rustls has not consumed; consumed bytes are discarded before
//!   rustls is called again, as its API requires.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use rustls::ServerConfig;
use rustls::pki_types::CertificateDer;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;

/// Room reserved in `incoming` before reading the socket. At most 1 KiB, so the buffer a
/// typical telemetry message needs comes from the allocator's per-thread cache: a larger
/// request takes glibc's slow path (bin consolidation) on every message. A record larger
/// than this stays partly in `incoming`, which then grows geometrically as it fills.
const READ_CHUNK: usize = 1024;
/// Encrypted output beyond this is written out before more is accepted (backpressure).
const OUTGOING_HIGH_WATER: usize = 64 * 1024;
/// Room for a record's header, tag and content type, per record of application data.
const RECORD_OVERHEAD: usize = 64;
const MAX_FRAGMENT: usize = 16 * 1024;

pub struct TlsStream {
    socket: TcpStream,
    conn: UnbufferedServerConnection,
    /// Received TLS bytes rustls has not consumed yet.
    incoming: Vec<u8>,
    /// TLS bytes to send; `sent` of them are already written.
    outgoing: Vec<u8>,
    sent: usize,
    /// Decrypted application data not yet handed to the reader.
    plaintext: BytesMut,
    /// The peer sent close_notify or closed the socket: no more application data.
    read_closed: bool,
    close_notify_sent: bool,
}

/// Where processing stopped.
enum Progress {
    /// Everything received is processed; more input is needed to go on.
    NeedInput,
    /// Application data was encrypted into `outgoing`.
    Encrypted,
}

fn tls_error(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl TlsStream {
    /// Runs the server handshake on `socket`. The caller bounds it with a deadline.
    pub async fn accept(socket: TcpStream, config: Arc<ServerConfig>) -> io::Result<TlsStream> {
        let conn = UnbufferedServerConnection::new(config).map_err(tls_error)?;
        let mut stream = TlsStream {
            socket,
            conn,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            sent: 0,
            plaintext: BytesMut::new(),
            read_closed: false,
            close_notify_sent: false,
        };
        loop {
            if let Err(e) = stream.process(None) {
                // rustls queued an alert describing the failure: send it if we can.
                stream.collect_alert();
                let _ = std::future::poll_fn(|cx| stream.poll_flush_outgoing(cx)).await;
                return Err(tls_error(e));
            }
            std::future::poll_fn(|cx| stream.poll_flush_outgoing(cx)).await?;
            if !stream.conn.is_handshaking() {
                return Ok(stream);
            }
            let read = std::future::poll_fn(|cx| stream.poll_read_socket(cx)).await?;
            if read == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// The client's certificate chain, if it presented one.
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.conn.peer_certificates()
    }

    /// Feeds received bytes to rustls until it needs more input, collecting decrypted data
    /// and queueing handshake output. With `data`, also encrypts it once rustls allows
    /// application data.
    fn process(&mut self, data: Option<&[u8]>) -> Result<Progress, rustls::Error> {
        loop {
            let UnbufferedStatus { mut discard, state } =
                self.conn.process_tls_records(&mut self.incoming);
            let mut outcome = None;
            let state = match state {
                Ok(state) => state,
                Err(e) => {
                    // The failed record is consumed too; rustls's handshake joiner keeps
                    // positions in `incoming`, so nothing else may be removed from it.
                    if discard > 0 {
                        self.incoming.drain(..discard);
                    }
                    return Err(e);
                }
            };
            match state {
                ConnectionState::ReadTraffic(mut records) => {
                    while let Some(record) = records.next_record() {
                        let record = record?;
                        discard += record.discard;
                        self.plaintext.extend_from_slice(record.payload);
                    }
                }
                ConnectionState::EncodeTlsData(mut encoder) => {
                    append_with(&mut self.outgoing, HANDSHAKE_ROOM, |out| {
                        encoder.encode(out)
                    })?;
                }
                // Queued in `outgoing`, which is always written before anything newer.
                ConnectionState::TransmitTlsData(transmit) => transmit.done(),
                ConnectionState::PeerClosed | ConnectionState::Closed => {
                    self.read_closed = true;
                    if data.is_none() {
                        outcome = Some(Progress::NeedInput);
                    } else if self.close_notify_sent {
                        return Err(rustls::Error::General("the connection is closed".into()));
                    }
                }
                ConnectionState::WriteTraffic(mut writer) => match data {
                    Some(data) => {
                        append_with(&mut self.outgoing, encrypted_room(data.len()), |out| {
                            writer.encrypt(data, out)
                        })?;
                        outcome = Some(Progress::Encrypted);
                    }
                    None => outcome = Some(Progress::NeedInput),
                },
                ConnectionState::BlockedHandshake => {
                    if data.is_some() {
                        return Err(rustls::Error::HandshakeNotComplete);
                    }
                    outcome = Some(Progress::NeedInput);
                }
                // Early data is not enabled in the server configuration.
                ConnectionState::ReadEarlyData(_) | _ => {
                    return Err(rustls::Error::General("unexpected TLS state".into()));
                }
            }
            if discard > 0 {
                self.incoming.drain(..discard);
            }
            if let Some(outcome) = outcome {
                if self.incoming.is_empty() {
                    // Idle connections hold no receive buffer.
                    self.incoming = Vec::new();
                }
                return Ok(outcome);
            }
        }
    }

    /// After an error: moves the alert rustls queued about it (if any) to `outgoing`. Only
    /// pending output is taken; nothing received is processed again.
    fn collect_alert(&mut self) {
        if !self.conn.wants_write() {
            return;
        }
        let UnbufferedStatus { state, .. } = self.conn.process_tls_records(&mut self.incoming);
        if let Ok(ConnectionState::EncodeTlsData(mut encoder)) = state {
            let _ = append_with(&mut self.outgoing, HANDSHAKE_ROOM, |out| {
                encoder.encode(out)
            });
        }
    }

    /// Reads what the socket has into `incoming` (into its spare room: nothing is zeroed or
    /// copied); 0 at end of stream. Through `poll_read`, which also notes a short read as
    /// "drained", so the next wait costs no extra `recv` that would only say `WouldBlock`.
    fn poll_read_socket(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        self.incoming.reserve(READ_CHUNK);
        let read =
            tokio_util::io::poll_read_buf(Pin::new(&mut self.socket), cx, &mut self.incoming);
        if self.incoming.is_empty() && !matches!(read, Poll::Ready(Ok(n)) if n > 0) {
            // Nothing arrived: an idle connection holds no buffer.
            self.incoming = Vec::new();
        }
        read
    }

    /// Writes all of `outgoing`, then releases it.
    fn poll_flush_outgoing(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.outgoing.len() {
            let n = ready!(Pin::new(&mut self.socket).poll_write(cx, &self.outgoing[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.outgoing = Vec::new();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Appends decrypted application data to `dst` (moved, not copied, when `dst` is
    /// empty). Ready(0) at the end of the stream.
    pub fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        loop {
            if !self.plaintext.is_empty() {
                let n = self.plaintext.len();
                if dst.is_empty() {
                    std::mem::swap(dst, &mut self.plaintext);
                } else {
                    dst.extend_from_slice(&self.plaintext);
                }
                self.plaintext = BytesMut::new();
                return Poll::Ready(Ok(n));
            }
            if self.read_closed {
                return Poll::Ready(Ok(0));
            }
            // Handshake messages rustls produced while reading (a key update) go out first;
            // a full socket here is not a reason to stop reading.
            if self.sent < self.outgoing.len()
                && let Poll::Ready(Err(e)) = self.poll_flush_outgoing(cx)
            {
                return Poll::Ready(Err(e));
            }
            self.process(None).map_err(tls_error)?;
            if !self.plaintext.is_empty() || self.read_closed {
                continue;
            }
            if ready!(self.poll_read_socket(cx))? == 0 {
                self.read_closed = true;
            }
        }
    }
}

/// Why rustls could not write into the room it was given.
enum Short {
    /// It needs this many bytes.
    Room(usize),
    Failed(String),
}

impl From<EncodeError> for Short {
    fn from(e: EncodeError) -> Self {
        match e {
            EncodeError::InsufficientSize(need) => Short::Room(need.required_size),
            e => Short::Failed(e.to_string()),
        }
    }
}

impl From<EncryptError> for Short {
    fn from(e: EncryptError) -> Self {
        match e {
            EncryptError::InsufficientSize(need) => Short::Room(need.required_size),
            e => Short::Failed(e.to_string()),
        }
    }
}

/// Runs `write` (a rustls encode or encrypt) on `room` spare bytes at the end of `outgoing`,
/// growing the room to what rustls asks for, and keeps what it wrote.
fn append_with<E: Into<Short>>(
    outgoing: &mut Vec<u8>,
    mut room: usize,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, E>,
) -> Result<(), rustls::Error> {
    let start = outgoing.len();
    loop {
        outgoing.resize(start + room, 0);
        match write(&mut outgoing[start..]).map_err(Into::into) {
            Ok(n) => {
                outgoing.truncate(start + n);
                return Ok(());
            }
            Err(Short::Room(needed)) => room = needed,
            Err(Short::Failed(why)) => {
                outgoing.truncate(start);
                return Err(rustls::Error::General(why));
            }
        }
    }
}

/// Room for encrypting `len` bytes of application data (rustls asks for more if needed).
fn encrypted_room(len: usize) -> usize {
    len + len.div_ceil(MAX_FRAGMENT).max(1) * RECORD_OVERHEAD
}

/// Room for a handshake record or an alert (rustls asks for more if needed).
const HANDSHAKE_ROOM: usize = 512;

impl AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.outgoing.len() - this.sent > OUTGOING_HIGH_WATER {
            ready!(this.poll_flush_outgoing(cx))?;
        }
        match this.process(Some(data)).map_err(tls_error)? {
            Progress::Encrypted => Poll::Ready(Ok(data.len())),
            Progress::NeedInput => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_outgoing(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.close_notify_sent {
            this.close_notify_sent = true;
            let UnbufferedStatus { discard, state } =
                this.conn.process_tls_records(&mut this.incoming);
            if let Ok(ConnectionState::WriteTraffic(mut writer)) = state {
                // Best effort: a close_notify that does not fit or fails is not worth an error.
                let _ = append_with(&mut this.outgoing, HANDSHAKE_ROOM, |out| {
                    writer.queue_close_notify(out)
                });
            }
            if discard > 0 {
                this.incoming.drain(..discard);
            }
        }
        ready!(this.poll_flush_outgoing(cx))?;
        Pin::new(&mut this.socket).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    fn configs(
        version: &'static rustls::SupportedProtocolVersion,
    ) -> (Arc<ServerConfig>, Arc<rustls::ClientConfig>) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let der = cert.cert.der().clone();
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[version])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![der.clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    }

    /// A handshaken pair: our stream on the server side, tokio-rustls on the client side.
    async fn pair(
        version: &'static rustls::SupportedProtocolVersion,
    ) -> (TlsStream, tokio_rustls::client::TlsStream<TcpStream>) {
        let (server_config, client_config) = configs(version);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let socket = TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            tokio_rustls::TlsConnector::from(client_config)
                .connect(name, socket)
                .await
                .unwrap()
        });
        let (socket, _) = listener.accept().await.unwrap();
        let server = TlsStream::accept(socket, server_config).await.unwrap();
        (server, client.await.unwrap())
    }

    async fn read_exactly(server: &mut TlsStream, len: usize) -> BytesMut {
        let mut got = BytesMut::new();
        while got.len() < len {
            let n = std::future::poll_fn(|cx| server.poll_read_into(cx, &mut got))
                .await
                .unwrap();
            assert!(n > 0, "stream ended after {} of {len} bytes", got.len());
        }
        got
    }

    #[tokio::test]
    async fn data_crosses_both_ways_in_tls_13_and_12_including_records_split_and_joined() {
        for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
            let (mut server, mut client) = pair(version).await;
            // Many small writes (records joined in one read) and one large (split records).
            let large: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
            for i in 0..50u8 {
                client.write_all(&[i; 7]).await.unwrap();
            }
            client.write_all(&large).await.unwrap();
            client.flush().await.unwrap();
            let got = read_exactly(&mut server, 350 + large.len()).await;
            for i in 0..50u8 {
                assert_eq!(&got[i as usize * 7..i as usize * 7 + 7], &[i; 7]);
            }
            assert_eq!(&got[350..], &large[..]);

            server.write_all(&large).await.unwrap();
            server.flush().await.unwrap();
            let mut back = vec![0u8; large.len()];
            client.read_exact(&mut back).await.unwrap();
            assert_eq!(back, large);
        }
    }

    #[tokio::test]
    async fn an_idle_stream_holds_no_buffers() {
        let (mut server, mut client) = pair(&rustls::version::TLS13).await;
        client.write_all(b"ping").await.unwrap();
        client.flush().await.unwrap();
        assert_eq!(&read_exactly(&mut server, 4).await[..], b"ping");
        server.write_all(b"pong").await.unwrap();
        server.flush().await.unwrap();
        let mut back = [0u8; 4];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"pong");
        assert_eq!(server.incoming.capacity(), 0);
        assert_eq!(server.outgoing.capacity(), 0);
        assert_eq!(server.plaintext.capacity(), 0);
    }

    #[tokio::test]
    async fn close_notify_and_end_of_stream_read_as_zero() {
        let (mut server, mut client) = pair(&rustls::version::TLS13).await;
        client.shutdown().await.unwrap();
        let mut buf = BytesMut::new();
        let n = std::future::poll_fn(|cx| server.poll_read_into(cx, &mut buf))
            .await
            .unwrap();
        assert_eq!(n, 0);
        // Our close_notify reaches the client as a clean end.
        server.shutdown().await.unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    }

    #[tokio::test]
    async fn a_client_that_is_not_tls_fails_the_handshake_with_an_error() {
        let (server_config, _) = configs(&rustls::version::TLS13);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut socket = TcpStream::connect(addr).await.unwrap();
            socket
                .write_all(b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c")
                .await
                .unwrap();
            let mut rest = Vec::new();
            let _ = socket.read_to_end(&mut rest).await;
            rest
        });
        let (socket, _) = listener.accept().await.unwrap();
        let err = TlsStream::accept(socket, server_config)
            .await
            .err()
            .unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        drop(err);
        // The client got an alert record (content type 21) before the close.
        let rest = client.await.unwrap();
        assert_eq!(rest.first(), Some(&21));
    }
}
