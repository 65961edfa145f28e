//! The `pulsecure-evaluator` command line (serve, worker, install-model, keys). The binary
//! is a thin wrapper; the clinician's `pulsecure demo` starts the same code in a child
//! process when the `pulsecure-evaluator` binary is not installed beside it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::time::Duration;

use crate::{
    serve, ClientLimits, ConnectionLimits, KeyQuota, KeyStore, KeyStoreError, ModelShelf,
    ModelShelfError, PeerIdentity, RequestLimits, ServeConfig, ServeError, Tenancy, TlsFiles,
};
use clap::{Args, Parser, Subcommand};
use pulsecure_rpc::{default_socket_path, ListenAddress};

/// The Pulsecure evaluator service.
#[derive(Parser, Debug)]
#[command(name = "pulsecure-evaluator", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the gRPC API until SIGTERM or SIGINT.
    Serve(ServeArgs),
    /// Evaluate jobs from a PostgreSQL queue (population screening) until SIGTERM or SIGINT;
    /// jobs in progress are finished first.
    Worker(WorkerArgs),
    /// Verify a signed model release and install it for the next start (anti-rollback applies).
    InstallModel {
        #[command(flatten)]
        data: DataDirArg,
        /// The model document.
        model: PathBuf,
        /// Its minisign signature (default: MODEL.minisig).
        #[arg(long)]
        signature: Option<PathBuf>,
    },
    /// Trust a model publisher's key (minisign public key file) besides the release key.
    TrustKey {
        #[command(flatten)]
        data: DataDirArg,
        /// The publisher's public key file.
        key: PathBuf,
    },
    /// List the stored server keys (key-id prefixes).
    Keys {
        #[command(flatten)]
        data: DataDirArg,
    },
}

#[derive(Args, Debug)]
struct DataDirArg {
    /// The evaluator's own directory: uploaded keys, installed models, the anti-rollback
    /// record. Never the clinician's data directory.
    #[arg(long, env = "PULSECURE_EVALUATOR_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// `unix:PATH` (default: $XDG_RUNTIME_DIR/pulsecure/evaluator.sock) or `tcp:HOST:PORT`
    /// (only with --tls-cert, --tls-key and --client-ca).
    #[arg(long)]
    listen: Option<ListenAddress>,
    /// PEM certificate chain of this evaluator (TCP only).
    #[arg(long, requires_all = ["tls_key", "client_ca"])]
    tls_cert: Option<PathBuf>,
    /// PEM private key of this evaluator (TCP only).
    #[arg(long, requires_all = ["tls_cert", "client_ca"])]
    tls_key: Option<PathBuf>,
    /// PEM certificate of the CA whose client certificates are accepted (TCP only).
    #[arg(long, requires_all = ["tls_cert", "tls_key"])]
    client_ca: Option<PathBuf>,
    #[command(flatten)]
    data: DataDirArg,
    /// Decompressed server keys kept in memory (about 120 MB each).
    #[arg(long, default_value_t = 2)]
    max_cached_keys: usize,
    /// Evaluations running at once (default: the cores).
    #[arg(long)]
    workers: Option<usize>,
    /// Evaluations admitted at once, running or waiting (default: 4 × workers); beyond it,
    /// RESOURCE_EXHAUSTED with a retry hint.
    #[arg(long)]
    max_queue: Option<usize>,
    /// Seconds a stream or upload may stay silent before it is closed.
    #[arg(long, default_value_t = 30)]
    idle_timeout: u64,
    /// Expose Prometheus metrics at http://ADDR/metrics (off by default).
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// Connections served at once; one more is closed at once (default: 256, lowered to fit
    /// the descriptor limit).
    #[arg(long)]
    max_connections: Option<usize>,
    /// TLS handshakes in progress at once; beyond, the oldest is dropped (default: 64,
    /// lowered to fit the descriptor limit).
    #[arg(long)]
    max_handshakes: Option<usize>,
    /// Seconds a TLS handshake may take.
    #[arg(long, default_value_t = 10)]
    tls_handshake_timeout: u64,
    /// Seconds a new connection may take to open its first HTTP/2 stream.
    #[arg(long, default_value_t = 10)]
    first_stream_timeout: u64,
    /// Seconds a unary call (status, key lookup or deletion, one evaluation) may take,
    /// waiting in the queue included.
    #[arg(long, default_value_t = 120)]
    request_timeout: u64,
    /// Seconds one request message may take to arrive once begun (a unary request: from
    /// its headers).
    #[arg(long, default_value_t = 10)]
    message_timeout: u64,
    /// MiB of incomplete request messages buffered at once, all connections together;
    /// beyond, RESOURCE_EXHAUSTED.
    #[arg(long, default_value_t = 64)]
    max_buffered_request_mib: usize,
    /// An operator: may see and delete every key and read the status details. `uid:N` (a
    /// local user) or `spki:HEX` (SHA-256 of a client certificate's SubjectPublicKeyInfo,
    /// as the log shows it). Repeatable. Default on a Unix socket: the evaluator's own user.
    #[arg(long = "operator", value_parser = PeerIdentity::parse)]
    operators: Vec<PeerIdentity>,
    /// Server keys one identity may own at once; beyond, RESOURCE_EXHAUSTED.
    #[arg(long, default_value_t = 4)]
    max_keys_per_identity: usize,
    /// MiB all stored server keys may take together; beyond, RESOURCE_EXHAUSTED.
    #[arg(long, default_value_t = 4096)]
    max_key_store_mib: u64,
    /// Stored keys one identity may have decompressed into the cache per minute (each costs
    /// about 0.4 s of CPU); 0: no limit.
    #[arg(long, default_value_t = 30)]
    cache_misses_per_minute: u32,
}

impl ServeArgs {
    /// The connection bounds: defaults fitted to this process's descriptor limit, explicit
    /// values as given.
    fn connection_limits(&self) -> ConnectionLimits {
        let defaults = ConnectionLimits {
            handshake_timeout: Duration::from_secs(self.tls_handshake_timeout.max(1)),
            first_stream_timeout: Duration::from_secs(self.first_stream_timeout.max(1)),
            ..ConnectionLimits::default()
        };
        let mut limits = match crate::listener::descriptor_limit() {
            Some(n) => defaults.fit_descriptors(n),
            None => defaults,
        };
        if let Some(n) = self.max_connections {
            limits.max_connections = n.max(1);
        }
        if let Some(n) = self.max_handshakes {
            limits.max_handshakes = n.max(1);
        }
        limits
    }

    fn tenancy(&self, listen: &ListenAddress) -> Tenancy {
        let mut operators = self.operators.clone();
        if operators.is_empty() && matches!(listen, ListenAddress::Unix(_)) {
            operators.push(PeerIdentity::Uid(rustix::process::getuid().as_raw()));
        }
        Tenancy {
            operators,
            quota: KeyQuota {
                per_identity: self.max_keys_per_identity.max(1),
                total_bytes: self.max_key_store_mib.saturating_mul(1 << 20),
            },
            misses_per_minute: self.cache_misses_per_minute,
        }
    }

    fn request_limits(&self) -> RequestLimits {
        RequestLimits {
            unary_timeout: Duration::from_secs(self.request_timeout.max(1)),
            message_timeout: Duration::from_secs(self.message_timeout.max(1)),
            buffered_bytes: self.max_buffered_request_mib.max(1).saturating_mul(1 << 20),
            ..RequestLimits::default()
        }
    }
}

#[derive(Args, Debug)]
struct WorkerArgs {
    /// The queue: postgresql://USER@/DB?host=/run/postgresql (Unix socket) or
    /// postgresql://USER@HOST/DB?sslmode=verify-full&sslrootcert=CA.pem[&sslcert=..&sslkey=..].
    /// A password comes from PGPASSWORD, never the URL.
    #[arg(long, env = "PULSECURE_QUEUE")]
    queue: String,
    #[command(flatten)]
    data: DataDirArg,
    /// Jobs evaluated at once (default: the cores).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Threads of the FHE pool (default: the cores).
    #[arg(long)]
    threads: Option<usize>,
    /// This worker's id in leases (default: host name, process id, random suffix).
    #[arg(long)]
    worker_id: Option<String>,
    /// Seconds a claimed job stays leased without renewal (renewed every third of it).
    #[arg(long, default_value_t = 60)]
    lease_seconds: u64,
    /// Seconds between polls when no NOTIFY arrives.
    #[arg(long, default_value_t = 5)]
    poll_seconds: u64,
    /// Seconds a failed attempt waits before it is retried.
    #[arg(long, default_value_t = 10)]
    retry_seconds: u64,
    /// Finished jobs not collected within this many hours are deleted with their
    /// ciphertexts (and server keys no job names).
    #[arg(long, default_value_t = 168)]
    retention_hours: u64,
    /// Decompressed server keys kept in memory (about 120 MB each).
    #[arg(long, default_value_t = 2)]
    max_cached_keys: usize,
}

/// The evaluator's one error type; each kind has its exit code.
#[derive(Debug, thiserror::Error)]
pub enum EvaluatorCliError {
    /// Serving failed (configuration 2, models 3, keys 4, I/O 5, transport 6).
    #[error("{0}")]
    Serve(#[from] ServeError),
    /// A model release was refused (3).
    #[error("{0}")]
    Models(#[from] ModelShelfError),
    /// The key store failed (4).
    #[error("{0}")]
    Keys(#[from] KeyStoreError),
    /// The queue address is unusable (2).
    #[error("{0}")]
    Queue(#[from] pulsecure_queue::QueueError),
    /// A directory or the runtime could not be set up (2).
    #[error("{0}")]
    Setup(String),
}

impl EvaluatorCliError {
    /// The process exit code of this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            EvaluatorCliError::Serve(ServeError::Config(_))
            | EvaluatorCliError::Setup(_)
            | EvaluatorCliError::Queue(_) => 2,
            EvaluatorCliError::Serve(ServeError::Models(_)) | EvaluatorCliError::Models(_) => 3,
            EvaluatorCliError::Serve(ServeError::Keys(_)) | EvaluatorCliError::Keys(_) => 4,
            EvaluatorCliError::Serve(ServeError::Io { .. }) => 5,
            EvaluatorCliError::Serve(ServeError::Transport(_)) => 6,
        }
    }
}

fn data_dir(arg: &DataDirArg) -> Result<PathBuf, EvaluatorCliError> {
    if let Some(dir) = &arg.data_dir {
        return Ok(dir.clone());
    }
    directories::ProjectDirs::from("org", "Pulsecure", "pulsecure-evaluator")
        .map(|d| d.data_dir().to_path_buf())
        .ok_or_else(|| {
            EvaluatorCliError::Setup(
                "no home directory: pass --data-dir or set PULSECURE_EVALUATOR_DATA_DIR".into(),
            )
        })
}

fn private_dir(dir: &Path) -> Result<(), EvaluatorCliError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| EvaluatorCliError::Setup(format!("creating {}: {e}", dir.display())))
}

fn run(cli: Cli) -> Result<(), EvaluatorCliError> {
    match cli.command {
        Command::Serve(args) => {
            let dir = data_dir(&args.data)?;
            private_dir(&dir)?;
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let workers = args.workers.unwrap_or(cores).max(1);
            let connections = args.connection_limits();
            let requests = args.request_limits();
            let listen = args
                .listen
                .clone()
                .unwrap_or_else(|| ListenAddress::Unix(default_socket_path()));
            let tenancy = args.tenancy(&listen);
            let tls = match (args.tls_cert, args.tls_key, args.client_ca) {
                (Some(cert), Some(key), Some(client_ca)) => Some(TlsFiles {
                    cert,
                    key,
                    client_ca,
                }),
                _ => None,
            };
            let config = ServeConfig {
                listen,
                tls,
                data_dir: dir,
                max_cached_keys: args.max_cached_keys.max(1),
                threads: cores,
                workers,
                max_queue: args.max_queue.unwrap_or(4 * workers),
                limits: ClientLimits {
                    idle: Duration::from_secs(args.idle_timeout.max(1)),
                    ..ClientLimits::default()
                },
                metrics: args.metrics_listen,
                connections,
                requests,
                tenancy,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("evaluator-io")
                .enable_all()
                .build()
                .map_err(|e| EvaluatorCliError::Setup(format!("starting the I/O runtime: {e}")))?;
            runtime.block_on(serve(config))?;
            Ok(())
        }
        Command::Worker(args) => worker(args),
        Command::InstallModel {
            data,
            model,
            signature,
        } => {
            let dir = data_dir(&data)?;
            private_dir(&dir)?;
            let signature = signature.unwrap_or_else(|| {
                let mut s = model.clone().into_os_string();
                s.push(".minisig");
                PathBuf::from(s)
            });
            let (id, version, outcome) = ModelShelf::install(&dir, &model, &signature)?;
            println!("{id} v{version}: {outcome:?} (served from the next start)");
            Ok(())
        }
        Command::TrustKey { data, key } => {
            let dir = data_dir(&data)?;
            private_dir(&dir)?;
            let id = ModelShelf::trust_key(&dir, &key)?;
            println!("publisher key {id} trusted for models installed on this evaluator");
            Ok(())
        }
        Command::Keys { data } => {
            let dir = data_dir(&data)?;
            let store = KeyStore::open(&dir.join("keys"))?;
            for id in store.list()? {
                println!("{}", id.short());
            }
            Ok(())
        }
    }
}

fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "worker".into());
    let mut suffix = [0u8; 3];
    let _ = getrandom::fill(&mut suffix);
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    format!("{host}-{}-{suffix}", std::process::id())
}

fn worker(args: WorkerArgs) -> Result<(), EvaluatorCliError> {
    let address = pulsecure_queue::QueueAddress::parse(&args.queue)?;
    let dir = data_dir(&args.data)?;
    private_dir(&dir)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let store = KeyStore::open(&dir.join("keys"))?;
    let shelf = ModelShelf::load(&dir)?;
    let engine = crate::QueueEngine::new(
        store,
        shelf,
        args.max_cached_keys.max(1),
        args.threads.unwrap_or(cores),
    )
    .map_err(|e| EvaluatorCliError::Setup(format!("starting the FHE pool: {e}")))?;
    let mut config =
        pulsecure_queue::WorkerConfig::new(args.worker_id.unwrap_or_else(default_worker_id));
    config.concurrency = args.concurrency.unwrap_or(cores).max(1);
    config.lease = Duration::from_secs(args.lease_seconds.max(1));
    config.poll = Duration::from_secs(args.poll_seconds.max(1));
    config.retry_backoff = Duration::from_secs(args.retry_seconds);
    config.retention = Duration::from_secs(args.retention_hours.saturating_mul(3600));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("worker-io")
        .enable_all()
        .build()
        .map_err(|e| EvaluatorCliError::Setup(format!("starting the I/O runtime: {e}")))?;
    tracing::info!(
        worker = %config.id,
        queue = %address,
        concurrency = config.concurrency,
        "queue worker starting"
    );
    runtime.block_on(async move {
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            crate::serve::termination().await;
            tracing::info!("stopping: finishing the jobs in progress");
            let _ = stop_tx.send(true);
        });
        let stats =
            pulsecure_queue::run_worker(address, std::sync::Arc::new(engine), config, stop).await;
        use std::sync::atomic::Ordering::Relaxed;
        tracing::info!(
            completed = stats.completed.load(Relaxed),
            failed_attempts = stats.failed_attempts.load(Relaxed),
            leases_lost = stats.leases_lost.load(Relaxed),
            reconnects = stats.reconnects.load(Relaxed),
            "queue worker stopped"
        );
    });
    Ok(())
}

/// Run the evaluator's command line on `args` (the first is the program name).
pub fn main_with<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    ExitCode::from(run_main(args))
}

/// Run the evaluator's command line on `args` and return its exit code; logs go to stderr
/// (PULSECURE_LOG sets the level). Usage errors and `--help` exit the process as clap does.
pub fn run_main<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // A second call in one process (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PULSECURE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .try_init();
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("pulsecure-evaluator: {e}");
            e.exit_code()
        }
    }
}
