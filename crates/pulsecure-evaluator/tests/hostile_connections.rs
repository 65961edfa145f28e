//! The evaluator under hostile connections (issue 30, part 4), the real binary:
//!
//! - 300 TCP connections that never send a ClientHello, under mutual TLS and a lowered
//!   descriptor limit (`prlimit`): each is closed within the handshake timeout, a client
//!   with a valid certificate is served on fresh connections throughout, and the evaluator
//!   does not spin — with its default caps (fitted to the limit) and with caps set beyond
//!   the limit (accept then fails with EMFILE and the evaluator backs off).
//! - On the Unix socket: a connection that sends nothing, one that sends only the HTTP/2
//!   preface, and a unary call whose message stops half-way are all ended within seconds;
//!   a second half-sent message beyond the budget of buffered bytes is refused at once.
//!
//! Behaviour only; the memory these cost is measured by `benches/hostile_connections.rs`.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pulsecure_evaluator_client::{ClientTls, Connection, RemoteConfig};
use pulsecure_rpc::EvaluatorAddress;
use support::hostile::{self, Pki};
use support::EvaluatorProcess;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The evaluator under `prlimit --nofile=N:N` (prlimit executes it: same pid).
fn start_limited(args: &[String], nofile: u32, port: u16, log: &Path) -> Server {
    let child = Command::new("prlimit")
        .arg(format!("--nofile={nofile}:{nofile}"))
        .arg("--")
        .arg(support::binary())
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log"))
        .spawn()
        .expect("prlimit (util-linux) starts the evaluator");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the evaluator did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server(child)
}

/// A client with a valid certificate, connecting afresh every 300 ms and asking for the
/// status until `stop`; returns (served, failures with their reasons).
fn valid_client(
    port: u16,
    pki: &Pki,
    cert: &Path,
    key: &Path,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(usize, Vec<String>)> {
    let tls = ClientTls {
        ca: pki.ca.clone(),
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
    };
    std::thread::spawn(move || {
        let (mut served, mut failures) = (0, Vec::new());
        while !stop.load(Ordering::Relaxed) {
            let mut config = RemoteConfig::new(
                EvaluatorAddress::Https(format!("https://127.0.0.1:{port}")),
                Some(tls.clone()),
            );
            config.retry_for = Duration::from_millis(0);
            config.call_timeout = Duration::from_secs(10);
            let started = Instant::now();
            match Connection::connect(config).and_then(|c| c.status()) {
                Ok(_) => served += 1,
                Err(e) => failures.push(format!("after {:?}: {e}", started.elapsed())),
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        (served, failures)
    })
}

/// 300 silent connections against an evaluator limited to `nofile` descriptors.
fn flood(dir: &Path, pki: &Pki, name: &str, nofile: u32, extra: &[&str]) {
    let port = hostile::free_port();
    let mut args = pki.serve_args(port, &dir.join("data"));
    args.extend(
        [
            "--tls-handshake-timeout",
            "2",
            "--first-stream-timeout",
            "2",
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string()),
    );
    let log = dir.join(format!("{name}.log"));
    let server = start_limited(&args, nofile, port, &log);
    let pid = server.0.id();
    let (cert, key) = pki.client(&format!("{name}-workstation"), &["workstation"]);
    let stop = Arc::new(AtomicBool::new(false));

    let cpu_before = hostile::cpu_time(pid);
    let started = Instant::now();
    let mut silent = hostile::silent_sockets(port, 300);
    let client = valid_client(port, pki, &cert, &key, Arc::clone(&stop));
    // Handshake timeout 2 s: every silent socket is closed well within 2 + 8 s.
    let open = hostile::still_open_after(&mut silent, Duration::from_secs(10));
    // Keep the valid client going a little after the flood is gone.
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let (served, failures) = client.join().expect("client thread");
    let wall = started.elapsed();
    let cpu = hostile::cpu_time(pid).saturating_sub(cpu_before);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    eprintln!(
        "{name}: {} silent sockets connected, {open} still open; valid client served {served}×, failed {}×; CPU {cpu:?} in {wall:?}",
        silent.len(),
        failures.len()
    );
    assert!(silent.len() >= 200, "{name}: the flood did not connect");
    assert_eq!(
        open, 0,
        "{name}: handshake-less connections were not closed within 10 s"
    );
    assert!(
        failures.is_empty() && served >= 3,
        "{name}: the valid client was not served throughout ({served} served): {failures:?}\n{text}"
    );
    // A spinning accept loop burns a whole core; a backing-off one a small fraction.
    assert!(
        cpu.as_secs_f64() < 0.5 * wall.as_secs_f64(),
        "{name}: the evaluator used {cpu:?} of CPU in {wall:?}"
    );
    drop(server);
}

#[test]
fn handshake_less_flood_is_closed_and_valid_clients_are_served() {
    let dir = tempfile::tempdir().expect("tmp");
    let pki = Pki::new(dir.path());
    // Default caps, fitted to 128 descriptors.
    flood(dir.path(), &pki, "fitted", 128, &[]);
    // Caps beyond the descriptor limit: accept meets EMFILE, the evaluator sheds the oldest
    // handshake and backs off.
    flood(
        dir.path(),
        &pki,
        "emfile",
        64,
        &["--max-connections", "1000", "--max-handshakes", "1000"],
    );
}

#[test]
fn silent_and_half_sent_requests_are_ended() {
    let dir = tempfile::tempdir().expect("tmp");
    let evaluator = EvaluatorProcess::start(
        dir.path(),
        &[
            "--first-stream-timeout",
            "2",
            "--message-timeout",
            "2",
            "--max-buffered-request-mib",
            "1",
        ],
    );
    use std::io::Write;
    // A connection that sends nothing, and one that sends only the HTTP/2 preface and an
    // empty SETTINGS frame: both closed once the first-stream timeout passes.
    let silent = std::os::unix::net::UnixStream::connect(&evaluator.socket).expect("connect");
    let mut preface_only =
        std::os::unix::net::UnixStream::connect(&evaluator.socket).expect("connect");
    preface_only
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .expect("preface");
    let mut idle = [silent, preface_only];
    let open = hostile::still_open_after(&mut idle, Duration::from_secs(8));
    assert_eq!(
        open, 0,
        "connections without a stream were not closed in 8 s"
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let first = hostile::unix_channel(&evaluator.socket).await;
        let second = hostile::unix_channel(&evaluator.socket).await;
        // 700 KiB of a 1 000 000-byte message, then silence.
        let stalled = hostile::send(first, hostile::stalled_evaluate(1_000_000, 700 << 10));
        let stalled = tokio::spawn(async move {
            let started = Instant::now();
            let answer = tokio::time::timeout(Duration::from_secs(10), stalled).await;
            (started.elapsed(), answer)
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        // A second one: together past the 1 MiB budget, refused at once.
        let over = tokio::time::timeout(
            Duration::from_secs(1),
            hostile::send(second, hostile::stalled_evaluate(1_000_000, 700 << 10)),
        )
        .await
        .expect("the call past the budget was answered at once")
        .expect("a response");
        assert_eq!(
            hostile::grpc_status(over).await,
            Some(tonic::Code::ResourceExhausted as i32)
        );
        let (took, answer) = stalled.await.expect("task");
        let response = answer
            .expect("the half-sent call was ended within 10 s")
            .expect("a response");
        assert_eq!(
            hostile::grpc_status(response).await,
            Some(tonic::Code::DeadlineExceeded as i32)
        );
        assert!(took < Duration::from_secs(6), "ended after {took:?}");
    });
    // Still serving, and the budget was given back: a real call works.
    let connection = evaluator.connect();
    assert!(connection.status().is_ok());
}
