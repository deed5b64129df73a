//! One client connection: a plain or TLS stream behind a buffered reader, bounded line reads
//! with a timeout, replies that are flushed once the client has no more pipelined commands
//! waiting, and the STARTTLS upgrade (which throws away anything the client sent after the
//! command, so nothing can be injected into the encrypted session).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A plain or TLS connection.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Bytes of replies held back for a pipelining client before they are written anyway.
const MAX_QUEUED_REPLIES: usize = 64 * 1024;

/// One line read from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The bytes, line ending included (CRLF, or a bare LF).
    Complete(Vec<u8>),
    /// Longer than the limit: the whole line was read and thrown away.
    TooLong,
}

/// Why a read ended the session.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("client closed the connection")]
    Closed,
    #[error("client silent for {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// The connection with its buffers.
pub struct Conn {
    reader: Option<BufReader<Stream>>,
    out: Vec<u8>,
    pub timeout: Duration,
}

impl Conn {
    pub fn new(stream: Stream, timeout: Duration) -> Conn {
        Conn {
            reader: Some(BufReader::with_capacity(16 * 1024, stream)),
            out: Vec::with_capacity(512),
            timeout,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(
            self.reader.as_ref().map(BufReader::get_ref),
            Some(Stream::Tls(_))
        )
    }

    fn reader(&mut self) -> io::Result<&mut BufReader<Stream>> {
        self.reader
            .as_mut()
            .ok_or_else(|| io::Error::other("connection lost in a TLS upgrade"))
    }

    /// Queues a reply line (or lines); `send` or the next read flushes it.
    pub fn queue(&mut self, reply: &str) {
        self.out.extend_from_slice(reply.as_bytes());
        if !reply.ends_with("\r\n") {
            self.out.extend_from_slice(b"\r\n");
        }
    }

    /// Writes queued replies now.
    pub async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let timeout = self.timeout;
        let writer = self.reader()?.get_mut();
        match tokio::time::timeout(timeout, async {
            writer.write_all(&out).await?;
            writer.flush().await
        })
        .await
        {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "client does not read",
            )),
        }
    }

    /// Queues a reply and writes it at once.
    pub async fn send(&mut self, reply: &str) -> io::Result<()> {
        self.queue(reply);
        self.flush().await
    }

    /// Reads one line of at most `max` bytes (line ending included). Queued replies are
    /// written first unless the client has already pipelined more input.
    pub async fn read_line(&mut self, max: usize) -> Result<Line, ReadError> {
        let pipelined = self.reader.as_ref().is_some_and(|r| !r.buffer().is_empty());
        // A client that pipelines without reading its replies cannot make them pile up here:
        // past 64 KiB they are written, and TCP's back-pressure (then the timeout) stops it.
        if !pipelined || self.out.len() > MAX_QUEUED_REPLIES {
            self.flush().await?;
        }
        let timeout = self.timeout;
        let reader = self.reader()?;
        match tokio::time::timeout(timeout, read_bounded_line(reader, max)).await {
            Ok(result) => result,
            Err(_) => Err(ReadError::Timeout(timeout)),
        }
    }

    /// Upgrades to TLS (after `220 Ready to start TLS` was sent). Bytes the client sent
    /// before the handshake are discarded.
    pub async fn start_tls(&mut self, acceptor: &TlsAcceptor) -> io::Result<()> {
        self.flush().await?;
        let reader = self
            .reader
            .take()
            .ok_or_else(|| io::Error::other("connection lost in a TLS upgrade"))?;
        let Stream::Plain(tcp) = reader.into_inner() else {
            return Err(io::Error::other("TLS is already on"));
        };
        let tls = handshake(acceptor, tcp, self.timeout).await?;
        self.reader = Some(BufReader::with_capacity(16 * 1024, tls));
        Ok(())
    }

    /// Closes the connection, writing what is queued first.
    pub async fn close(&mut self) {
        let _ = self.flush().await;
        if let Some(reader) = self.reader.as_mut() {
            let _ = tokio::time::timeout(Duration::from_secs(2), reader.get_mut().shutdown()).await;
        }
    }
}

/// A TLS handshake bounded by `timeout`, so a client that never finishes it cannot hold a
/// session forever.
pub async fn handshake(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    timeout: Duration,
) -> io::Result<Stream> {
    match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => Ok(Stream::Tls(Box::new(tls))),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS handshake not finished in time",
        )),
    }
}

async fn read_bounded_line(reader: &mut BufReader<Stream>, max: usize) -> Result<Line, ReadError> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Err(ReadError::Closed);
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(p) => (&available[..=p], true),
            None => (available, false),
        };
        let n = chunk.len();
        if !too_long {
            if line.len() + n > max {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        reader.consume(n);
        if done {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete(line)
            });
        }
    }
}
