//! One accepted connection as tonic sees it: the socket (TLS or Unix), the peer it belongs
//! to, the slot it holds in the connection cap, and a watch that closes it if it opens no
//! HTTP/2 stream in time (a client that completes the TLS handshake, or connects to the Unix
//! socket, and then sends nothing or only the preface would otherwise hold its descriptor
//! and slot for as long as it likes).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Sleep;
use tonic::transport::server::Connected;

use crate::peer::Peer;

/// The socket under a connection.
#[derive(Debug)]
pub(crate) enum Socket {
    /// TCP after a mutual-TLS handshake.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// A local Unix socket.
    Unix(UnixStream),
}

/// An accepted, admitted connection.
#[derive(Debug)]
pub struct Connection {
    socket: Socket,
    peer: Peer,
    first_stream: Option<FirstStream>,
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    /// A connection that must open its first HTTP/2 stream within `first_stream`.
    pub(crate) fn new(
        socket: Socket,
        peer: Peer,
        slot: OwnedSemaphorePermit,
        first_stream: Duration,
    ) -> Self {
        Connection {
            socket,
            peer,
            first_stream: Some(FirstStream {
                deadline: Box::pin(tokio::time::sleep(first_stream)),
                scan: FrameScan::Preface(0),
            }),
            _slot: slot,
        }
    }
}

impl Connected for Connection {
    type ConnectInfo = Peer;

    fn connect_info(&self) -> Peer {
        self.peer.clone()
    }
}

#[derive(Debug)]
struct FirstStream {
    deadline: Pin<Box<Sleep>>,
    scan: FrameScan,
}

/// Where the reader is in the client's bytes, until its first HEADERS frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameScan {
    /// Bytes of the 24-byte client preface seen.
    Preface(usize),
    /// A frame header (9 bytes) being read.
    Header([u8; 9], usize),
    /// Payload bytes of a non-HEADERS frame still to skip.
    Payload(usize),
}

const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS_FRAME: u8 = 0x1;

impl FrameScan {
    /// Feed bytes read from the client; `Ok(true)` once a HEADERS frame (a stream) began,
    /// `Err` when the bytes are not HTTP/2.
    fn feed(&mut self, mut bytes: &[u8]) -> Result<bool, ()> {
        while !bytes.is_empty() {
            match self {
                FrameScan::Preface(seen) => {
                    let take = (PREFACE.len() - *seen).min(bytes.len());
                    if bytes[..take] != PREFACE[*seen..*seen + take] {
                        return Err(());
                    }
                    *seen += take;
                    bytes = &bytes[take..];
                    if *seen == PREFACE.len() {
                        *self = FrameScan::Header([0; 9], 0);
                    }
                }
                FrameScan::Header(header, have) => {
                    let take = (9 - *have).min(bytes.len());
                    header[*have..*have + take].copy_from_slice(&bytes[..take]);
                    *have += take;
                    bytes = &bytes[take..];
                    if *have == 9 {
                        if header[3] == HEADERS_FRAME {
                            return Ok(true);
                        }
                        let length = (usize::from(header[0]) << 16)
                            | (usize::from(header[1]) << 8)
                            | usize::from(header[2]);
                        *self = if length == 0 {
                            FrameScan::Header([0; 9], 0)
                        } else {
                            FrameScan::Payload(length)
                        };
                    }
                }
                FrameScan::Payload(left) => {
                    let take = (*left).min(bytes.len());
                    *left -= take;
                    bytes = &bytes[take..];
                    if *left == 0 {
                        *self = FrameScan::Header([0; 9], 0);
                    }
                }
            }
        }
        Ok(false)
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(watch) = &mut this.first_stream {
            if watch.deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no HTTP/2 stream opened in time: connection closed",
                )));
            }
        }
        let before = buf.filled().len();
        ready!(match &mut this.socket {
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Socket::Unix(s) => Pin::new(s).poll_read(cx, buf),
        })?;
        if let Some(watch) = &mut this.first_stream {
            match watch.scan.feed(&buf.filled()[before..]) {
                Ok(true) => this.first_stream = None,
                Ok(false) => {}
                Err(()) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "not an HTTP/2 client: connection closed",
                    )))
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().socket {
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Socket::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().socket {
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            Socket::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.socket {
            Socket::Tls(s) => s.is_write_vectored(),
            Socket::Unix(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().socket {
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Socket::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().socket {
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Socket::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, payload: usize) -> Vec<u8> {
        let mut f = vec![
            (payload >> 16) as u8,
            (payload >> 8) as u8,
            payload as u8,
            kind,
            0,
            0,
            0,
            0,
            0,
        ];
        f.extend(std::iter::repeat_n(0u8, payload));
        f
    }

    #[test]
    fn the_first_headers_frame_is_found_across_splits() {
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(0x4, 18)); // SETTINGS
        bytes.extend(frame(0x8, 4)); // WINDOW_UPDATE
        bytes.extend(frame(0x6, 8)); // PING
        let before_headers = bytes.len();
        bytes.extend(frame(HEADERS_FRAME, 30));
        for split in [1, 2, 5, 9, 24, 100] {
            let mut scan = FrameScan::Preface(0);
            let mut seen_at = None;
            for (i, chunk) in bytes.chunks(split).enumerate() {
                if scan.feed(chunk) == Ok(true) {
                    seen_at = Some(i * split);
                    break;
                }
            }
            let at = seen_at.expect("HEADERS seen");
            assert!(at + split > before_headers, "split {split}: seen at {at}");
        }
        let mut only_settings = FrameScan::Preface(0);
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(0x4, 0));
        assert_eq!(only_settings.feed(&bytes), Ok(false));
        assert_eq!(FrameScan::Preface(0).feed(b"GET / HTTP/1.1\r\n"), Err(()));
    }
}
