//! Running the service: a Unix socket (default) or TCP with mutual TLS, the gRPC health
//! service beside the evaluator, an optional metrics listener, and a graceful stop on SIGTERM
//! or SIGINT (new evaluations refused, in-flight ones finished).

use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pulsecure_rpc::limits::MAX_MESSAGE_BYTES;
use pulsecure_rpc::v1::evaluator_server::EvaluatorServer;
use pulsecure_rpc::ListenAddress;
use tokio::net::{TcpListener, UnixListener};
use tonic::transport::Server;

use crate::execution::Executor;
use crate::key_store::{KeyStore, KeyStoreError};
use crate::listener::{tls_incoming, unix_incoming, ConnectionLimits};
use crate::metrics::{Gauges, Metrics};
use crate::model_shelf::{ModelShelf, ModelShelfError};
use crate::request_limits::{RequestLimits, RequestLimitsLayer};
use crate::service::{ClientLimits, EvaluatorService, Tenancy};

/// Files of a TLS listener: its certificate chain and key, and the CA that signs clients.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// PEM certificate chain of the evaluator.
    pub cert: PathBuf,
    /// PEM private key of the evaluator.
    pub key: PathBuf,
    /// PEM certificate of the CA whose client certificates are accepted.
    pub client_ca: PathBuf,
}

/// How to run the evaluator.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Where to listen.
    pub listen: ListenAddress,
    /// Required for TCP, refused for a Unix socket.
    pub tls: Option<TlsFiles>,
    /// Keys, models and the anti-rollback record.
    pub data_dir: PathBuf,
    /// Decompressed keys kept in memory.
    pub max_cached_keys: usize,
    /// rayon threads for FHE work.
    pub threads: usize,
    /// Evaluations running at once.
    pub workers: usize,
    /// Evaluations admitted at once.
    pub max_queue: usize,
    /// Client timeouts and bounds.
    pub limits: ClientLimits,
    /// Bounds on connections (cap, handshake and first-stream timeouts).
    pub connections: ConnectionLimits,
    /// Bounds on requests (call and message timeouts, buffered bytes).
    pub requests: RequestLimits,
    /// Key ownership, operators, quotas and the cache-miss rate.
    pub tenancy: Tenancy,
    /// Where to expose Prometheus metrics (off when `None`).
    pub metrics: Option<SocketAddr>,
}

/// Why the evaluator could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Plain TCP, or TLS files for a Unix socket.
    #[error("{0}")]
    Config(String),
    /// The key store could not be opened.
    #[error(transparent)]
    Keys(#[from] KeyStoreError),
    /// A model could not be served.
    #[error(transparent)]
    Models(#[from] ModelShelfError),
    /// A file, socket or thread could not be set up.
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("serving: {0}")]
    Transport(#[from] tonic::transport::Error),
}

fn io_error(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServeError {
    let action = action.into();
    move |source| ServeError::Io { action, source }
}

/// Refuse a socket directory others can enter or that another user owns (whoever owns it
/// could put their own socket there); create it (0700) if missing. The fallback directory in
/// the temporary directory (no `XDG_RUNTIME_DIR`), whose name anyone can take first, must be
/// exactly this user's with mode 0700.
fn prepare_socket_dir(socket: &Path) -> Result<(), ServeError> {
    let dir = socket
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if std::fs::symlink_metadata(dir).is_err() {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(io_error(format!("creating {}", parent.display())))?;
        }
        // Created 0700 at once: no moment at which another user could enter it.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .map_err(io_error(format!("creating {}", dir.display())))?;
    }
    if dir == pulsecure_rpc::fallback_socket_dir() {
        pulsecure_rpc::check_private_dir(dir).map_err(|e| ServeError::Config(e.to_string()))?;
    }
    let meta = std::fs::metadata(dir).map_err(io_error(format!("reading {}", dir.display())))?;
    let me = rustix::process::getuid().as_raw();
    if std::os::unix::fs::MetadataExt::uid(&meta) != me {
        return Err(ServeError::Config(format!(
            "the socket directory {} belongs to another user (uid {}, not {me})",
            dir.display(),
            std::os::unix::fs::MetadataExt::uid(&meta)
        )));
    }
    let mode = meta.permissions().mode();
    if mode & 0o007 != 0 {
        return Err(ServeError::Config(format!(
            "the socket directory {} is open to other users (mode {:o}): use a directory with mode 0700 or 0750",
            dir.display(),
            mode & 0o777
        )));
    }
    // A socket left by a previous run (a crash) is replaced; any other file is not touched.
    if let Ok(meta) = std::fs::symlink_metadata(socket) {
        use std::os::unix::fs::FileTypeExt;
        if meta.file_type().is_socket() {
            std::fs::remove_file(socket)
                .map_err(io_error(format!("removing the stale {}", socket.display())))?;
        } else {
            return Err(ServeError::Config(format!(
                "{} exists and is not a socket",
                socket.display()
            )));
        }
    }
    Ok(())
}

/// Wait for SIGTERM or SIGINT.
pub(crate) async fn termination() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// Serve until SIGTERM or SIGINT.
pub async fn serve(config: ServeConfig) -> Result<(), ServeError> {
    match (&config.listen, &config.tls) {
        (ListenAddress::Tcp(_), None) => {
            return Err(ServeError::Config(
                "plain TCP is refused: listening on TCP needs --tls-cert, --tls-key and --client-ca (mutual TLS)".into(),
            ))
        }
        (ListenAddress::Unix(_), Some(_)) => {
            return Err(ServeError::Config(
                "TLS options apply to tcp: listeners only; a Unix socket is protected by its directory's permissions".into(),
            ))
        }
        _ => {}
    }
    let store = KeyStore::open(&config.data_dir.join("keys"))?;
    let shelf = ModelShelf::load(&config.data_dir)?;
    for m in shelf.models() {
        tracing::info!(
            model_id = m.model.id(),
            model_version = m.model.version(),
            bootstrappings = m.cost.total(),
            levels = m.cost.depth,
            "serving model"
        );
    }
    let executor =
        Executor::new(config.threads, config.workers, config.max_queue).map_err(|e| {
            ServeError::Io {
                action: "starting the FHE workers".into(),
                source: std::io::Error::other(e.to_string()),
            }
        })?;
    let metrics = Arc::new(Metrics::default());
    let service = EvaluatorService::new(
        store,
        shelf,
        executor,
        config.max_cached_keys,
        config.limits.clone(),
        config.tenancy.clone(),
        Arc::clone(&metrics),
    );
    tracing::info!(
        operators = %config
            .tenancy
            .operators
            .iter()
            .map(|o| o.to_text())
            .collect::<Vec<_>>()
            .join(","),
        max_keys_per_identity = config.tenancy.quota.per_identity,
        max_key_store_bytes = config.tenancy.quota.total_bytes,
        cache_misses_per_minute = config.tenancy.misses_per_minute,
        "tenancy"
    );
    if let Some(addr) = config.metrics {
        spawn_metrics(addr, service.clone(), metrics).await?;
    }
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<EvaluatorServer<EvaluatorService>>()
        .await;
    let evaluator = EvaluatorServer::new(service.clone())
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let stopping = {
        let service = service.clone();
        async move {
            termination().await;
            tracing::info!("stopping: new evaluations refused, finishing those in flight");
            service.close();
            health_reporter
                .set_not_serving::<EvaluatorServer<EvaluatorService>>()
                .await;
        }
    };
    let mut builder = Server::builder()
        .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
        .concurrency_limit_per_connection(MAX_STREAMS_PER_CONNECTION as usize)
        .initial_stream_window_size(Some(STREAM_WINDOW_BYTES))
        .initial_connection_window_size(Some(CONNECTION_WINDOW_BYTES))
        .http2_max_header_list_size(Some(MAX_HEADER_LIST_BYTES))
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .layer(RequestLimitsLayer::new(config.requests.clone()));
    let limits = config.connections.clone();
    tracing::info!(
        max_connections = limits.max_connections,
        max_handshakes = limits.max_handshakes,
        handshake_timeout_s = limits.handshake_timeout.as_secs_f64(),
        first_stream_timeout_s = limits.first_stream_timeout.as_secs_f64(),
        unary_timeout_s = config.requests.unary_timeout.as_secs_f64(),
        message_timeout_s = config.requests.message_timeout.as_secs_f64(),
        buffered_request_bytes = config.requests.buffered_bytes,
        "connection and request limits"
    );
    match config.listen {
        ListenAddress::Unix(path) => {
            prepare_socket_dir(&path)?;
            let listener = UnixListener::bind(&path)
                .map_err(io_error(format!("binding {}", path.display())))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660))
                .map_err(io_error(format!("restricting {}", path.display())))?;
            tracing::info!(listen = %format!("unix:{}", path.display()), "evaluator ready");
            let result = builder
                .add_service(health_service)
                .add_service(evaluator)
                .serve_with_incoming_shutdown(unix_incoming(listener, limits), stopping)
                .await;
            let _ = std::fs::remove_file(&path);
            result?;
        }
        ListenAddress::Tcp(addr) => {
            let tls = config
                .tls
                .as_ref()
                .ok_or_else(|| ServeError::Config("TCP without TLS".into()))?;
            let acceptor = tls_acceptor(tls)?;
            let listener = TcpListener::bind(addr)
                .await
                .map_err(io_error(format!("binding {addr}")))?;
            let bound = listener
                .local_addr()
                .map_err(io_error("reading the bound address"))?;
            tracing::info!(listen = %format!("tcp:{bound}"), "evaluator ready (mutual TLS)");
            builder
                .add_service(health_service)
                .add_service(evaluator)
                .serve_with_incoming_shutdown(tls_incoming(listener, acceptor, limits), stopping)
                .await?;
        }
    }
    tracing::info!("evaluator stopped");
    Ok(())
}

/// HTTP/2 streams one connection may have open (a batch uses one stream; a client's
/// parallel unary calls a few).
pub const MAX_STREAMS_PER_CONNECTION: u32 = 16;
/// HTTP/2 flow-control window of one stream: what a client may send ahead of the server.
pub const STREAM_WINDOW_BYTES: u32 = 256 << 10;
/// HTTP/2 flow-control window of one connection, all its streams together.
pub const CONNECTION_WINDOW_BYTES: u32 = 1 << 20;
/// Largest header list a request may carry.
pub const MAX_HEADER_LIST_BYTES: u32 = 16 << 10;

/// The mutual-TLS acceptor: the evaluator's certificate and key, client certificates
/// required and verified against the client CA, HTTP/2 only.
fn tls_acceptor(tls: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor, ServeError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let read = |p: &PathBuf| std::fs::read(p).map_err(io_error(format!("reading {}", p.display())));
    let pem_error = |p: &PathBuf, what: &str| {
        let shown = p.display().to_string();
        let what = what.to_string();
        move |e: rustls_pki_types::pem::Error| {
            ServeError::Config(format!("{shown}: not a PEM {what}: {e}"))
        }
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(&tls.cert)?)
        .collect::<Result<_, _>>()
        .map_err(pem_error(&tls.cert, "certificate chain"))?;
    let key = PrivateKeyDer::from_pem_slice(&read(&tls.key)?)
        .map_err(pem_error(&tls.key, "private key"))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(&read(&tls.client_ca)?) {
        let ca = ca.map_err(pem_error(&tls.client_ca, "CA certificate"))?;
        roots.add(ca).map_err(|e| {
            ServeError::Config(format!(
                "{}: unusable CA certificate: {e}",
                tls.client_ca.display()
            ))
        })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(&provider),
    )
    .build()
    .map_err(|e| ServeError::Config(format!("the client CA: {e}")))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Config(format!("TLS: {e}")))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| {
            ServeError::Config(format!(
                "{} and {}: {e}",
                tls.cert.display(),
                tls.key.display()
            ))
        })?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Expose the metrics on `addr` (plain HTTP `GET /metrics`; bind it to a private network).
async fn spawn_metrics(
    addr: SocketAddr,
    service: EvaluatorService,
    metrics: Arc<Metrics>,
) -> Result<(), ServeError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(io_error(format!("binding the metrics listener {addr}")))?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (service, metrics) = (service.clone(), Arc::clone(&metrics));
            async move {
                let gauges: Gauges = service.gauges();
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    metrics.render(gauges),
                )
            }
        }),
    );
    tracing::info!(metrics = %addr, "metrics listener ready");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("metrics listener stopped: {e}");
        }
    });
    Ok(())
}
