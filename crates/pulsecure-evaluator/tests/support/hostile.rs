//! Hostile clients for tests and benches: a certificate authority made here (rcgen),
//! sockets that never speak, gRPC calls whose body stops half-way, the evaluator's CPU time.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tonic::codegen::http;

/// A CA, the evaluator's certificate (for 127.0.0.1) and client certificates, as PEM files.
pub struct Pki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
}

impl Pki {
    /// A new CA and evaluator certificate under `dir`.
    pub fn new(dir: &Path) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "clinic CA");
        let issuer =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, issuer.pem()).expect("write CA");
        let mut pki = Pki {
            ca,
            server_cert: PathBuf::new(),
            server_key: PathBuf::new(),
            issuer,
            dir: dir.to_path_buf(),
        };
        let (cert, key) = pki.client("evaluator", &["127.0.0.1", "localhost"]);
        pki.server_cert = cert;
        pki.server_key = key;
        pki
    }

    /// A certificate with common name `name` (and these subject names), signed by the CA;
    /// returns (certificate, key) paths.
    pub fn client(&self, name: &str, names: &[&str]) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name.to_string());
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        let cert_path = self.dir.join(format!("{name}.pem"));
        let key_path = self.dir.join(format!("{name}.key"));
        std::fs::write(&cert_path, cert.pem()).expect("write cert");
        std::fs::write(&key_path, key.serialize_pem()).expect("write key");
        (cert_path, key_path)
    }

    /// `serve` arguments for mutual TLS on 127.0.0.1:`port`.
    pub fn serve_args(&self, port: u16, data: &Path) -> Vec<String> {
        vec![
            "serve".into(),
            "--listen".into(),
            format!("tcp:127.0.0.1:{port}"),
            "--tls-cert".into(),
            self.server_cert.display().to_string(),
            "--tls-key".into(),
            self.server_key.display().to_string(),
            "--client-ca".into(),
            self.ca.display().to_string(),
            "--data-dir".into(),
            data.display().to_string(),
        ]
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// CPU time (user + system) the process has used so far.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 (1-based), 11 and 12 after the name; 100 Hz.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// A line of /proc/PID/status in kB (VmRSS, VmHWM).
pub fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| {
            v.trim_start_matches(':')
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// `n` TCP connections to `port` that never send a byte (connections the kernel refused
/// are not counted).
pub fn silent_sockets(port: u16, n: usize) -> Vec<std::net::TcpStream> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    (0..n)
        .filter_map(|_| std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok())
        .collect()
}

/// Whether the peer has closed `socket` (EOF or reset), without waiting.
pub fn is_closed<S: Read + AsRawSocket>(socket: &mut S) -> bool {
    socket.set_nonblocking_for_probe();
    let mut byte = [0u8; 64];
    loop {
        match socket.read(&mut byte) {
            Ok(0) => return true,
            // Bytes (a TLS alert, an HTTP/2 GOAWAY): keep reading to the end.
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// Sockets that can be probed without blocking.
pub trait AsRawSocket {
    fn set_nonblocking_for_probe(&self);
}

impl AsRawSocket for std::net::TcpStream {
    fn set_nonblocking_for_probe(&self) {
        self.set_nonblocking(true).expect("nonblocking");
    }
}

impl AsRawSocket for std::os::unix::net::UnixStream {
    fn set_nonblocking_for_probe(&self) {
        self.set_nonblocking(true).expect("nonblocking");
    }
}

/// Wait until every socket is closed by the peer or `within` passes; the sockets still
/// open then.
pub fn still_open_after<S: Read + AsRawSocket>(sockets: &mut [S], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let open = sockets
            .iter_mut()
            .map(|s| !is_closed(s))
            .filter(|o| *o)
            .count();
        if open == 0 || Instant::now() >= deadline {
            return open;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The body of a gRPC call that sends the first `sent` bytes of a message announced as
/// `announced` bytes long, then nothing more, and never ends.
pub fn stalled_body(announced: u32, sent: usize) -> tonic::body::Body {
    use http_body_util::StreamBody;
    use tokio_stream::StreamExt;
    let mut first = vec![0u8];
    first.extend_from_slice(&announced.to_be_bytes());
    first.extend(std::iter::repeat_n(0x5au8, sent));
    let frames = tokio_stream::iter(vec![Ok::<_, std::io::Error>(http_body::Frame::data(
        tonic::codegen::Bytes::from(first),
    ))])
    .chain(tokio_stream::pending());
    tonic::body::Body::new(StreamBody::new(frames))
}

/// A unary `Evaluate` call whose request message stops after `sent` of `announced` bytes.
pub fn stalled_evaluate(announced: u32, sent: usize) -> http::Request<tonic::body::Body> {
    http::Request::builder()
        .method("POST")
        .uri("http://evaluator.invalid/pulsecure.evaluator.v1.Evaluator/Evaluate")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(stalled_body(announced, sent))
        .expect("request")
}

/// The gRPC status code of a response (trailers-only answers carry it in the headers),
/// reading the body to its trailers otherwise.
pub async fn grpc_status(response: http::Response<tonic::body::Body>) -> Option<i32> {
    use http_body_util::BodyExt;
    let code = |headers: &http::HeaderMap| {
        headers
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    };
    if let Some(c) = code(response.headers()) {
        return Some(c);
    }
    let collected = response.into_body().collect().await.ok()?;
    collected.trailers().and_then(code)
}

/// A channel to the evaluator's Unix socket (plain HTTP/2 over the socket).
pub async fn unix_channel(socket: &Path) -> tonic::transport::Channel {
    let path = socket.to_path_buf();
    tonic::transport::Endpoint::from_static("http://evaluator.invalid")
        .connect_with_connector(tower::service_fn(move |_: http::Uri| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tokio::net::UnixStream::connect(path).await?,
                ))
            }
        }))
        .await
        .expect("a channel to the Unix socket")
}

/// A channel to a mutual-TLS evaluator with this client certificate.
pub async fn tls_channel(
    port: u16,
    ca: &Path,
    cert: &Path,
    key: &Path,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
    let read = |p: &Path| std::fs::read(p).expect("PEM file");
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(ca)))
        .identity(Identity::from_pem(read(cert), read(key)));
    Endpoint::from_shared(format!("https://127.0.0.1:{port}"))
        .expect("url")
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
}

/// Send a raw HTTP/2 request on `channel` (readiness first, as tower requires).
pub async fn send(
    mut channel: tonic::transport::Channel,
    request: http::Request<tonic::body::Body>,
) -> Result<http::Response<tonic::body::Body>, tonic::transport::Error> {
    use tower::ServiceExt;
    channel.ready().await?;
    tower::Service::call(&mut channel, request).await
}
