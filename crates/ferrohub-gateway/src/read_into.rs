//! How the connection driver reads: whatever bytes are available are appended to its
//! input buffer.
//!
//! Why not `AsyncRead` + `read_buf`: `read_buf` reserves room in the caller's buffer before
//! it knows whether anything arrived, so every idle connection would hold a buffer. Here the
//! transport appends only what it received, and the TLS stream hands over its decrypted
//! bytes without copying when the driver's buffer is empty.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use tokio::io::{AsyncRead, ReadBuf};

use crate::tls_stream::TlsStream;

/// Bytes read per call from a plain stream.
const CHUNK: usize = 4096;

pub trait ReadInto {
    /// Appends available bytes to `buf`; Ready(0) at the end of the stream.
    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>>;
}

impl ReadInto for TlsStream {
    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        TlsStream::poll_read_into(self, cx, buf)
    }
}

/// The in-process pipe behind MQTT over WebSockets.
impl ReadInto for tokio::io::DuplexStream {
    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        let mut chunk = [0u8; CHUNK];
        let mut read = ReadBuf::new(&mut chunk);
        ready!(Pin::new(self).poll_read(cx, &mut read))?;
        buf.extend_from_slice(read.filled());
        Poll::Ready(Ok(read.filled().len()))
    }
}
