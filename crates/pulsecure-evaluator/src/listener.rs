//! The evaluator's own accept loop, in front of tonic: every connection is admitted under
//! bounds before any HTTP/2 is spoken.
//!
//! - A TLS handshake must finish within [`ConnectionLimits::handshake_timeout`]; at most
//!   [`ConnectionLimits::max_handshakes`] run at once, and beyond that the oldest that has
//!   not sent a byte yet is dropped (the oldest of all if every one has): a flood of silent
//!   sockets cannot starve the handshake of a real client, which speaks first.
//! - At most [`ConnectionLimits::max_connections`] admitted connections; one more is closed
//!   at once.
//! - `EMFILE`/`ENFILE` (or no buffers) on accept: the oldest unfinished handshake is dropped
//!   to free a descriptor and the loop sleeps (10 ms doubling to 1 s) instead of spinning on
//!   a listener that stays readable.
//! - An admitted connection must open its first HTTP/2 stream within
//!   [`ConnectionLimits::first_stream_timeout`] ([`Connection`]).

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::AbortHandle;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;

use crate::connection::{Connection, Socket};
use crate::peer::Peer;

/// Bounds on connections (see the module documentation).
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    /// Admitted connections at once (after the handshake); beyond, closed at once.
    pub max_connections: usize,
    /// TLS handshakes in progress at once; beyond, the oldest is dropped.
    pub max_handshakes: usize,
    /// Longest a TLS handshake may take.
    pub handshake_timeout: Duration,
    /// Longest an admitted connection may take to open its first HTTP/2 stream.
    pub first_stream_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 256,
            max_handshakes: 64,
            handshake_timeout: Duration::from_secs(10),
            first_stream_timeout: Duration::from_secs(10),
        }
    }
}

/// Descriptors kept free for everything but connections (key and model files, the log,
/// the runtime's own).
pub const RESERVED_DESCRIPTORS: usize = 48;

impl ConnectionLimits {
    /// Lower the defaults so connections and handshakes fit in `descriptors` (the soft
    /// `RLIMIT_NOFILE`) less [`RESERVED_DESCRIPTORS`]; explicit values are the caller's.
    pub fn fit_descriptors(mut self, descriptors: u64) -> Self {
        let available = usize::try_from(descriptors)
            .unwrap_or(usize::MAX)
            .saturating_sub(RESERVED_DESCRIPTORS)
            .max(2);
        if self.max_connections + self.max_handshakes > available {
            self.max_handshakes = self.max_handshakes.min((available / 4).max(1));
            self.max_connections = (available - self.max_handshakes).max(1);
        }
        self
    }
}

/// The soft descriptor limit of this process.
pub fn descriptor_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// Unfinished handshakes, oldest first.
#[derive(Default)]
struct Pending {
    tasks: VecDeque<Handshake>,
}

/// One unfinished handshake: whether the client has spoken, whether it is done, its task.
struct Handshake {
    spoke: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    task: AbortHandle,
}

impl Pending {
    fn prune(&mut self) {
        self.tasks
            .retain(|h| !h.done.load(Ordering::Acquire) && !h.task.is_finished());
    }

    /// Drop the oldest unfinished handshake whose client has sent nothing (or else the
    /// oldest); whether there was one.
    fn shed_oldest(&mut self) -> bool {
        self.prune();
        let at = self
            .tasks
            .iter()
            .position(|h| !h.spoke.load(Ordering::Acquire))
            .unwrap_or(0);
        match self.tasks.remove(at) {
            Some(h) => {
                h.task.abort();
                true
            }
            None => false,
        }
    }
}

/// The lock guards plain bookkeeping; a panic cannot leave it inconsistent.
fn lock(p: &Mutex<Pending>) -> std::sync::MutexGuard<'_, Pending> {
    p.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(code) if code == rustix::io::Errno::MFILE.raw_os_error()
            || code == rustix::io::Errno::NFILE.raw_os_error()
            || code == rustix::io::Errno::NOBUFS.raw_os_error()
            || code == rustix::io::Errno::NOMEM.raw_os_error()
    )
}

/// Where connections come from.
enum Source {
    Tcp(TcpListener, TlsAcceptor),
    Unix(UnixListener),
}

/// The admitted mutual-TLS connections of `listener`, as a stream for tonic.
pub(crate) fn tls_incoming(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    limits: ConnectionLimits,
) -> ReceiverStream<Result<Connection, io::Error>> {
    spawn_loop(Source::Tcp(listener, acceptor), limits)
}

/// The admitted connections of a Unix socket, as a stream for tonic.
pub(crate) fn unix_incoming(
    listener: UnixListener,
    limits: ConnectionLimits,
) -> ReceiverStream<Result<Connection, io::Error>> {
    spawn_loop(Source::Unix(listener), limits)
}

fn spawn_loop(
    source: Source,
    limits: ConnectionLimits,
) -> ReceiverStream<Result<Connection, io::Error>> {
    let (tx, rx) = mpsc::channel(limits.max_connections.clamp(1, 1024));
    tokio::spawn(accept_loop(source, limits, tx));
    ReceiverStream::new(rx)
}

async fn accept_loop(
    source: Source,
    limits: ConnectionLimits,
    tx: mpsc::Sender<Result<Connection, io::Error>>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let pending = Arc::new(Mutex::new(Pending::default()));
    let mut backoff = Duration::ZERO;
    let mut refused_full = 0u64;
    loop {
        let accepted = tokio::select! {
            _ = tx.closed() => break,
            accepted = accept(&source) => accepted,
        };
        let socket = match accepted {
            Ok(socket) => {
                backoff = Duration::ZERO;
                socket
            }
            Err(e) if out_of_descriptors(&e) => {
                let shed = lock(&pending).shed_oldest();
                if backoff.is_zero() {
                    tracing::warn!(
                        shed_handshake = shed,
                        "accept failed ({e}): out of descriptors; backing off"
                    );
                }
                backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                tokio::time::sleep(backoff).await;
                continue;
            }
            Err(e) => {
                // ECONNABORTED and friends: that one connection is gone, the next may come.
                tracing::debug!("accept failed: {e}");
                continue;
            }
        };
        match socket {
            Accepted::Unix(stream) => {
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    refused_full += 1;
                    log_full(refused_full, limits.max_connections);
                    continue;
                };
                let uid = stream.peer_cred().ok().map(|c| c.uid());
                let connection = Connection::new(
                    Socket::Unix(stream),
                    Peer::unix(uid),
                    slot,
                    limits.first_stream_timeout,
                );
                if tx.send(Ok(connection)).await.is_err() {
                    break;
                }
            }
            Accepted::Tcp(stream) => {
                let Source::Tcp(_, acceptor) = &source else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                // A client that waited in the backlog has already sent its ClientHello.
                let (stream, spoke_already) = match peek_now(stream) {
                    Ok(peeked) => peeked,
                    Err(e) => {
                        tracing::debug!("accepted socket unusable: {e}");
                        continue;
                    }
                };
                let done = Arc::new(AtomicBool::new(false));
                let spoke = Arc::new(AtomicBool::new(spoke_already));
                let task = tokio::spawn(handshake(
                    stream,
                    acceptor.clone(),
                    limits.clone(),
                    Arc::clone(&slots),
                    [Arc::clone(&spoke), Arc::clone(&done)],
                    tx.clone(),
                ));
                {
                    let mut pending = lock(&pending);
                    pending.prune();
                    pending.tasks.push_back(Handshake {
                        spoke,
                        done,
                        task: task.abort_handle(),
                    });
                    while pending.tasks.len() > limits.max_handshakes.max(1) {
                        pending.shed_oldest();
                    }
                }
                // Let the new handshake see its client's first bytes before the next accept
                // (a backlog of silent sockets would otherwise be accepted without a pause).
                tokio::task::yield_now().await;
            }
        }
    }
    tracing::debug!("accept loop stopped");
}

/// Whether the client has sent bytes already, without waiting (a non-blocking `MSG_PEEK`
/// on the socket, which tokio keeps non-blocking).
fn peek_now(stream: tokio::net::TcpStream) -> io::Result<(tokio::net::TcpStream, bool)> {
    let std_stream = stream.into_std()?;
    let spoke = matches!(std_stream.peek(&mut [0u8; 1]), Ok(n) if n > 0);
    Ok((tokio::net::TcpStream::from_std(std_stream)?, spoke))
}

fn log_full(refused: u64, max: usize) {
    // The first refusal and then every 100th: a flood must not flood the log too.
    if refused % 100 == 1 {
        tracing::warn!(
            refused,
            max_connections = max,
            "connection refused: the connection cap is reached"
        );
    }
}

enum Accepted {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

async fn accept(source: &Source) -> io::Result<Accepted> {
    match source {
        Source::Tcp(listener, _) => listener.accept().await.map(|(s, _)| Accepted::Tcp(s)),
        Source::Unix(listener) => listener.accept().await.map(|(s, _)| Accepted::Unix(s)),
    }
}

async fn handshake(
    stream: tokio::net::TcpStream,
    acceptor: TlsAcceptor,
    limits: ConnectionLimits,
    slots: Arc<Semaphore>,
    [spoke, done]: [Arc<AtomicBool>; 2],
    tx: mpsc::Sender<Result<Connection, io::Error>>,
) {
    let handshake = async {
        // A real client speaks first (its ClientHello); a silent socket is shed first.
        stream.readable().await?;
        spoke.store(true, Ordering::Release);
        acceptor.accept(stream).await
    };
    let tls = match tokio::time::timeout(limits.handshake_timeout, handshake).await {
        Err(_) => {
            tracing::debug!("TLS handshake timed out: connection closed");
            return;
        }
        Ok(Err(e)) => {
            tracing::debug!("TLS handshake failed: {e}");
            return;
        }
        Ok(Ok(tls)) => tls,
    };
    done.store(true, Ordering::Release);
    let peer = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(|cert| Peer::from_certificate(cert.as_ref()));
    let Some(peer) = peer else {
        tracing::warn!("a TLS client without a readable certificate: connection closed");
        return;
    };
    let Ok(slot) = slots.try_acquire_owned() else {
        tracing::warn!(
            max_connections = limits.max_connections,
            certificate = %peer.fingerprint_text(),
            "connection refused: the connection cap is reached"
        );
        return;
    };
    let connection = Connection::new(
        Socket::Tls(Box::new(tls)),
        peer,
        slot,
        limits.first_stream_timeout,
    );
    let _ = tx.send(Ok(connection)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn silent_handshakes_are_shed_before_speaking_ones() {
        let mut pending = Pending::default();
        let mut spoke = Vec::new();
        for i in 0..3 {
            let flag = Arc::new(AtomicBool::new(i == 0));
            spoke.push(Arc::clone(&flag));
            pending.tasks.push_back(Handshake {
                spoke: flag,
                done: Arc::new(AtomicBool::new(false)),
                task: tokio::spawn(std::future::pending::<()>()).abort_handle(),
            });
        }
        // The oldest spoke: the second (silent) one goes first, then the third.
        assert!(pending.shed_oldest());
        assert_eq!(pending.tasks.len(), 2);
        assert!(pending.tasks[0].spoke.load(Ordering::Acquire));
        assert!(pending.shed_oldest());
        assert!(pending.tasks[0].spoke.load(Ordering::Acquire));
        // Only speaking ones left: the oldest goes.
        assert!(pending.shed_oldest());
        assert!(!pending.shed_oldest());
    }

    #[test]
    fn defaults_fit_a_low_descriptor_limit() {
        let fitted = ConnectionLimits::default().fit_descriptors(128);
        assert!(fitted.max_connections + fitted.max_handshakes <= 128 - RESERVED_DESCRIPTORS);
        assert!(fitted.max_handshakes >= 1 && fitted.max_connections >= 1);
        let roomy = ConnectionLimits::default().fit_descriptors(1 << 20);
        assert_eq!(roomy.max_connections, 256);
        assert_eq!(roomy.max_handshakes, 64);
    }
}
