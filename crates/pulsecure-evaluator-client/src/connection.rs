//! A connection to one evaluator: the transport (Unix socket or mutual TLS), a small I/O
//! runtime of its own (callers are synchronous), and the retry rule.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use pulsecure_fhe::ServerKeyId;
use pulsecure_rpc::limits::{MAX_MESSAGE_BYTES, RETRY_AFTER_MS, UPLOAD_CHUNK_BYTES};
use pulsecure_rpc::v1::evaluator_client::EvaluatorClient;
use pulsecure_rpc::v1::{GetStatusRequest, GetStatusResponse, KeyChunk, KeyRef};
use pulsecure_rpc::EvaluatorAddress;
use tokio::net::UnixStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity, Uri};
use tonic::{Code, Status};

use crate::error::RemoteError;
use crate::peer::{check_peer, check_socket_path, Untrusted};

/// The client certificate and the CA that signed the evaluator's certificate (`https://`).
#[derive(Clone, Debug)]
pub struct ClientTls {
    /// PEM certificate of the CA that signed the evaluator's certificate.
    pub ca: PathBuf,
    /// PEM client certificate.
    pub cert: PathBuf,
    /// PEM client private key.
    pub key: PathBuf,
}

/// How to reach an evaluator.
#[derive(Clone, Debug)]
pub struct RemoteConfig {
    /// Its address.
    pub address: EvaluatorAddress,
    /// Required for `https://`.
    pub tls: Option<ClientTls>,
    /// How long a call keeps retrying while the evaluator is unreachable or busy.
    pub retry_for: Duration,
    /// Longest a single call may take (an evaluation queued behind others included).
    pub call_timeout: Duration,
    /// On a Unix socket, the uid the evaluator's process must run as; `None`: this user or
    /// root (see [`check_peer`](crate::check_peer)).
    pub peer_uid: Option<u32>,
}

impl RemoteConfig {
    /// Defaults: retry for 2 minutes, 5 minutes per call.
    pub fn new(address: EvaluatorAddress, tls: Option<ClientTls>) -> Self {
        RemoteConfig {
            address,
            tls,
            retry_for: Duration::from_secs(120),
            call_timeout: Duration::from_secs(300),
            peer_uid: None,
        }
    }
}

/// A live connection to an evaluator.
pub struct Connection {
    runtime: tokio::runtime::Runtime,
    client: EvaluatorClient<Channel>,
    config: RemoteConfig,
    /// Why the connector last refused the other end of the socket, if it did.
    refused: Arc<Mutex<Option<String>>>,
    /// The status the service gave when the connection was made (the first call, which
    /// also proves the TLS handshake): callers read it instead of asking again.
    first_status: GetStatusResponse,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("address", &self.config.address.to_string())
            .finish()
    }
}

/// Whether a failed call may succeed if repeated: the transport is down or the evaluator is
/// restarting, or it is busy and says when to come back (`RESOURCE_EXHAUSTED` with a
/// `retry-after-ms` hint; without one, as for an oversized request, the refusal is final).
fn retryable(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable | Code::Unknown | Code::Cancelled => true,
        Code::ResourceExhausted => retry_hint(status).is_some(),
        _ => false,
    }
}

/// The retry rule: how long to wait before calling again after `status`, or `None` to
/// give up — a transient failure (the service restarting, a dropped connection) or a busy
/// service that says when to come back, while `elapsed` is within the `retry_for` budget;
/// the service's hint wins over our own `backoff`, and no wait exceeds 5 s.
fn retry_wait(
    status: &Status,
    elapsed: Duration,
    retry_for: Duration,
    backoff: Duration,
) -> Option<Duration> {
    if !retryable(status) || elapsed >= retry_for {
        return None;
    }
    Some(retry_hint(status).unwrap_or(backoff).min(MAX_WAIT))
}

/// Longest single wait between retries.
const MAX_WAIT: Duration = Duration::from_secs(5);

fn retry_hint(status: &Status) -> Option<Duration> {
    status
        .metadata()
        .get(RETRY_AFTER_MS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
}

impl Connection {
    /// Connect (and check that the evaluator answers).
    pub fn connect(config: RemoteConfig) -> Result<Self, RemoteError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("evaluator-client")
            .on_thread_start(block_sigpipe_on_this_thread)
            .enable_all()
            .build()
            .map_err(|e| RemoteError::Runtime(e.to_string()))?;
        let refused: Arc<Mutex<Option<String>>> = Arc::default();
        let untrusted = || {
            refused
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        };
        let unreachable = |reason: String| match untrusted() {
            Some(reason) => RemoteError::Untrusted {
                address: config.address.to_string(),
                reason,
            },
            None => RemoteError::Unreachable {
                address: config.address.to_string(),
                reason,
            },
        };
        let channel = runtime.block_on(async {
            match &config.address {
                EvaluatorAddress::Unix(path) => {
                    let path = path.clone();
                    let (expected, refused) = (config.peer_uid, Arc::clone(&refused));
                    // The URI is required by the API and unused: the connector dials the
                    // socket, and every connection (reconnections too) is checked first.
                    Endpoint::from_static("http://evaluator.invalid")
                        .connect_timeout(Duration::from_secs(5))
                        .timeout(config.call_timeout)
                        .connect_with_connector(tower::service_fn(move |_: Uri| {
                            let (path, refused) = (path.clone(), Arc::clone(&refused));
                            async move { dial(&path, expected, &refused).await.map(TokioIo::new) }
                        }))
                        .await
                        .map_err(|e| unreachable(transport_reason(&e)))
                }
                EvaluatorAddress::Https(url) => {
                    let tls = config.tls.as_ref().ok_or_else(|| {
                        RemoteError::Tls(
                            "an https:// evaluator needs --evaluator-ca, --client-cert and --client-key"
                                .into(),
                        )
                    })?;
                    let read = |p: &PathBuf| {
                        std::fs::read(p)
                            .map_err(|e| RemoteError::Tls(format!("reading {}: {e}", p.display())))
                    };
                    let tls_config = ClientTlsConfig::new()
                        .ca_certificate(Certificate::from_pem(read(&tls.ca)?))
                        .identity(Identity::from_pem(read(&tls.cert)?, read(&tls.key)?));
                    Endpoint::from_shared(url.clone())
                        .map_err(|e| RemoteError::Tls(format!("{url}: {e}")))?
                        .tls_config(tls_config)
                        .map_err(|e| RemoteError::Tls(transport_reason(&e)))?
                        .connect_timeout(Duration::from_secs(5))
                        .timeout(config.call_timeout)
                        .connect()
                        .await
                        .map_err(|e| unreachable(transport_reason(&e)))
                }
            }
        })?;
        let client = EvaluatorClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let mut connection = Connection {
            runtime,
            client,
            config,
            refused,
            first_status: GetStatusResponse::default(),
        };
        // A TLS handshake refused by the server shows only at the first call.
        connection.first_status = connection.status()?;
        Ok(connection)
    }

    /// The service's status as given when the connection was made.
    pub fn first_status(&self) -> &GetStatusResponse {
        &self.first_status
    }

    /// The configured address.
    pub fn address(&self) -> &EvaluatorAddress {
        &self.config.address
    }

    /// Longest a single call may take.
    pub fn call_timeout(&self) -> Duration {
        self.config.call_timeout
    }

    /// Run `call` until it succeeds, fails for good, or the retry budget is spent.
    pub(crate) fn call<T, F, Fut>(&self, what: &'static str, call: F) -> Result<T, RemoteError>
    where
        F: Fn(EvaluatorClient<Channel>) -> Fut,
        Fut: std::future::Future<Output = Result<T, Status>>,
    {
        let started = Instant::now();
        let mut backoff = Duration::from_millis(100);
        loop {
            let result = self.runtime.block_on(call(self.client.clone()));
            let wait = match &result {
                Err(status) => {
                    retry_wait(status, started.elapsed(), self.config.retry_for, backoff)
                }
                Ok(_) => None,
            };
            match result {
                Ok(value) => return Ok(value),
                Err(status) if wait.is_some() => {
                    let wait = wait.unwrap_or(backoff);
                    tracing::warn!(
                        call = what,
                        status = ?status.code(),
                        wait_ms = wait.as_millis() as u64,
                        "evaluator not ready; retrying"
                    );
                    std::thread::sleep(wait);
                    backoff = (backoff * 2).min(MAX_WAIT);
                }
                Err(status) => {
                    let refused = self
                        .refused
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .clone();
                    if let Some(reason) = refused {
                        return Err(RemoteError::Untrusted {
                            address: self.config.address.to_string(),
                            reason,
                        });
                    }
                    return Err(match status.code() {
                        // Retried as long as the budget allowed: still full.
                        Code::ResourceExhausted if retry_hint(&status).is_some() => {
                            RemoteError::Busy {
                                address: self.config.address.to_string(),
                                message: status.message().to_string(),
                            }
                        }
                        Code::Unavailable | Code::Unknown | Code::Cancelled => {
                            RemoteError::Unreachable {
                                address: self.config.address.to_string(),
                                reason: status.message().to_string(),
                            }
                        }
                        code => RemoteError::Refused {
                            code,
                            message: status.message().to_string(),
                        },
                    });
                }
            }
        }
    }

    /// The evaluator's version, parameters, models and limits.
    pub fn status(&self) -> Result<GetStatusResponse, RemoteError> {
        self.call("GetStatus", |mut c| async move {
            c.get_status(GetStatusRequest {})
                .await
                .map(tonic::Response::into_inner)
        })
    }

    /// Whether the evaluator holds key `key_id`.
    pub fn has_key(&self, key_id: &ServerKeyId) -> Result<bool, RemoteError> {
        let key_id = key_id.as_bytes().to_vec();
        self.call("HasKey", |mut c| {
            let key_id = key_id.clone();
            async move {
                c.has_key(KeyRef { key_id })
                    .await
                    .map(|r| r.into_inner().present)
            }
        })
    }

    /// Forget key `key_id` on the evaluator; false when it was not held.
    pub fn delete_key(&self, key_id: &ServerKeyId) -> Result<bool, RemoteError> {
        let key_id = key_id.as_bytes().to_vec();
        self.call("DeleteKey", |mut c| {
            let key_id = key_id.clone();
            async move {
                c.delete_key(KeyRef { key_id })
                    .await
                    .map(|r| r.into_inner().deleted)
            }
        })
    }

    /// Upload a server key in chunks, announcing `key_id`; `progress` hears the bytes handed
    /// to the transport so far.
    pub fn put_server_key(
        &self,
        bytes: Arc<Vec<u8>>,
        key_id: &ServerKeyId,
        progress: Arc<dyn Fn(u64) + Send + Sync>,
    ) -> Result<u64, RemoteError> {
        let key_id = key_id.as_bytes().to_vec();
        self.call("PutServerKey", |mut c| {
            let (bytes, key_id, progress) =
                (Arc::clone(&bytes), key_id.clone(), Arc::clone(&progress));
            async move {
                let chunks = (0..bytes.len().div_ceil(UPLOAD_CHUNK_BYTES)).map(move |i| {
                    let start = i * UPLOAD_CHUNK_BYTES;
                    let end = (start + UPLOAD_CHUNK_BYTES).min(bytes.len());
                    progress(end as u64);
                    KeyChunk {
                        key_id: if i == 0 { key_id.clone() } else { Vec::new() },
                        data: bytes[start..end].to_vec(),
                    }
                });
                c.put_server_key(tokio_stream::iter(chunks))
                    .await
                    .map(|r| r.into_inner().bytes_received)
            }
        })
    }

    /// A client handle and the runtime to drive it (streams, tests).
    pub fn raw(&self) -> (EvaluatorClient<Channel>, &tokio::runtime::Runtime) {
        (self.client.clone(), &self.runtime)
    }
}

/// Dial the Unix socket at `path` after checking its directory and file, then check the
/// serving process's uid before anything is sent. A refusal is recorded in `refused` (so the
/// caller reports it as such, not as "unreachable") and fails the dial.
async fn dial(
    path: &Path,
    expected: Option<u32>,
    refused: &Mutex<Option<String>>,
) -> std::io::Result<UnixStream> {
    let untrusted = |e: Untrusted| {
        *refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.0.clone());
        std::io::Error::new(std::io::ErrorKind::PermissionDenied, e.0)
    };
    check_socket_path(path, expected).map_err(untrusted)?;
    let stream = UnixStream::connect(path).await?;
    check_peer(&stream, path, expected).map_err(untrusted)?;
    Ok(stream)
}

/// Writing to a socket whose peer is gone raises SIGPIPE, and the `pulsecure` binary keeps
/// SIGPIPE's default action (die quietly under `| head`). On the threads that talk to the
/// evaluator the signal is blocked, so an evaluator that dies mid-request is an `EPIPE` error
/// (retried) instead of the end of the clinician's process.
fn block_sigpipe_on_this_thread() {
    use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGPIPE);
    if let Err(e) = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None) {
        tracing::warn!("could not block SIGPIPE on an evaluator-client thread: {e}");
    }
}

/// The innermost cause of a transport error (tonic's outer message is only "transport error").
fn transport_reason(e: &tonic::transport::Error) -> String {
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        reason = s.to_string();
        source = s.source();
    }
    reason
}

#[cfg(test)]
mod retry_tests {
    use super::*;

    fn busy(hint_ms: Option<u64>) -> Status {
        let mut status = Status::resource_exhausted("queue full");
        if let Some(ms) = hint_ms {
            status.metadata_mut().insert(
                RETRY_AFTER_MS,
                ms.to_string().parse().expect("ascii metadata"),
            );
        }
        status
    }

    const BUDGET: Duration = Duration::from_secs(30);
    const BACKOFF: Duration = Duration::from_millis(400);

    #[test]
    fn transient_failures_are_retried_with_our_backoff_within_the_budget() {
        for status in [
            Status::unavailable("restarting"),
            Status::unknown("connection reset"),
            Status::cancelled("dropped"),
        ] {
            assert_eq!(
                retry_wait(&status, Duration::from_secs(1), BUDGET, BACKOFF),
                Some(BACKOFF)
            );
            assert_eq!(
                retry_wait(&status, BUDGET, BUDGET, BACKOFF),
                None,
                "budget spent"
            );
        }
    }

    #[test]
    fn a_busy_service_is_retried_only_when_it_says_when_and_never_longer_than_5_s() {
        assert_eq!(
            retry_wait(&busy(Some(250)), Duration::ZERO, BUDGET, BACKOFF),
            Some(Duration::from_millis(250)),
            "the service's hint wins"
        );
        assert_eq!(
            retry_wait(&busy(Some(60_000)), Duration::ZERO, BUDGET, BACKOFF),
            Some(MAX_WAIT)
        );
        assert_eq!(
            retry_wait(&busy(None), Duration::ZERO, BUDGET, BACKOFF),
            None,
            "no hint: a refusal, not a wait"
        );
        assert_eq!(
            retry_wait(
                &Status::unavailable("x"),
                Duration::ZERO,
                BUDGET,
                Duration::from_secs(60)
            ),
            Some(MAX_WAIT)
        );
    }

    #[test]
    fn refusals_are_never_retried() {
        for status in [
            Status::invalid_argument("bad frame"),
            Status::not_found("key not held"),
            Status::permission_denied("not yours"),
            Status::failed_precondition("model not served"),
        ] {
            assert_eq!(retry_wait(&status, Duration::ZERO, BUDGET, BACKOFF), None);
        }
    }
}
