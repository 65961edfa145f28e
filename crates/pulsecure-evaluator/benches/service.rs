//! `cargo bench -p pulsecure-evaluator --bench service`: the evaluator service measured
//! against the in-process engine in one run (release build, this machine's cores).
//!
//! 1. Latency per screening: in-process vs Unix socket vs mutual TLS on loopback, the same
//!    requests interleaved; bytes on the wire per screening.
//! 2. Load: 4 concurrent clients × 25 patients through one evaluator; every result checked
//!    against the reference engine; throughput against cores / single-thread evaluation
//!    time; p50/p95 latency.
//! 3. Evaluator RSS with 1 and with 3 cached keys.
//! 4. Hostile barrage (garbage, truncated and oversized requests, unknown keys and models,
//!    1 000 empty streams, an oversized key upload): statuses, RSS before and after.
//!
//! Prints a table and, last, one JSON line (`PULSECURE_SERVICE_BENCH {...}`).

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_core::ports::fhe::{Evaluator, FheClient};
use pulsecure_core::{Model, PatientFeatures, QuantizedInput, ReferenceEngine};
use pulsecure_evaluator_client::{ClientTls, Connection, RemoteConfig, RemoteEvaluator};
use pulsecure_fhe::{generate_keys, model_fingerprint, GeneratedKeys, TfheClient, TfheEvaluator};
use pulsecure_rpc::v1::{EvaluateRequest, KeyChunk};
use pulsecure_rpc::EvaluatorAddress;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_pulsecure-evaluator")
}

fn start(args: &[String], ready: impl Fn() -> bool, log: &Path) -> Server {
    let child = Command::new(binary())
        .args(args)
        .env("PULSECURE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log"))
        .spawn()
        .expect("start the evaluator");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "the evaluator did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child }
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf, PathBuf) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca");
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    };
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(names)
            .expect("params")
            .signed_by(&key, &ca)
            .expect("sign");
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(vec!["127.0.0.1".into()]);
    let (client_cert, client_key) = leaf(vec!["workstation".into()]);
    (
        write("ca.pem", ca.pem()),
        write("server.pem", server_cert),
        write("server.key", server_key),
        write("client.pem", client_cert),
        write("client.key", client_key),
    )
}

fn main() {
    // `cargo bench` passes --bench; any other argument is ignored.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let model = Model::from_json(DEFAULT_MODEL_JSON).expect("model");
    let reference = ReferenceEngine::new(&model);
    let fingerprint = model_fingerprint(&model);
    let key_sets: Vec<GeneratedKeys> = (0..3).map(|_| generate_keys().expect("keygen")).collect();
    let main_keys = &key_sets[0];
    let client =
        TfheClient::new(&model, main_keys.client_key.clone(), main_keys.key_id).expect("client");

    // The evaluator on a Unix socket (data dir shared with the TLS one: the key is uploaded
    // once and read from disk by both).
    let run = d.join("run");
    std::fs::create_dir(&run).expect("run");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let socket = run.join("e.sock");
    let data = d.join("data");
    let unix_server = start(
        &[
            "serve".into(),
            "--listen".into(),
            format!("unix:{}", socket.display()),
            "--data-dir".into(),
            data.display().to_string(),
            "--max-cached-keys".into(),
            "3".into(),
        ],
        || std::os::unix::net::UnixStream::connect(&socket).is_ok(),
        &d.join("unix.log"),
    );
    let unix_pid = unix_server.child.id();
    let rss_idle = rss_mb(unix_pid);
    let unix = Arc::new(
        Connection::connect(RemoteConfig::new(
            EvaluatorAddress::Unix(socket.clone()),
            None,
        ))
        .expect("connect"),
    );
    let t = Instant::now();
    unix.put_server_key(
        Arc::new(main_keys.server_key_bytes.clone()),
        &main_keys.key_id,
        Arc::new(|_| {}),
    )
    .expect("upload");
    let upload = t.elapsed();

    let (ca, server_cert, server_key, client_cert, client_key_pem) = pki(d);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let _tls_server = start(
        &[
            "serve".into(),
            "--listen".into(),
            format!("tcp:127.0.0.1:{port}"),
            "--tls-cert".into(),
            server_cert.display().to_string(),
            "--tls-key".into(),
            server_key.display().to_string(),
            "--client-ca".into(),
            ca.display().to_string(),
            "--data-dir".into(),
            data.display().to_string(),
        ],
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        &d.join("tls.log"),
    );
    let tls = Arc::new(
        Connection::connect(RemoteConfig::new(
            EvaluatorAddress::Https(format!("https://127.0.0.1:{port}")),
            Some(ClientTls {
                ca: ca.clone(),
                cert: client_cert.clone(),
                key: client_key_pem.clone(),
            }),
        ))
        .expect("mTLS connect"),
    );

    // 1. Latency: the same requests through the three paths, interleaved.
    let local = TfheEvaluator::new(&main_keys.server_key_bytes, &model).expect("local");
    let over_unix = RemoteEvaluator::new(Arc::clone(&unix), 1);
    let over_tls = RemoteEvaluator::new(Arc::clone(&tls), 1);
    let sample = support::varied_patients(&model, 12);
    let requests: Vec<Vec<u8>> = sample
        .iter()
        .map(|p| {
            client
                .encrypt(&QuantizedInput::from_patient(&model, p))
                .expect("encrypt")
        })
        .collect();
    // Warm-up: each server decompresses the key once.
    over_unix.evaluate(&requests[0]).expect("warm unix");
    over_tls.evaluate(&requests[0]).expect("warm tls");
    let (mut t_local, mut t_unix, mut t_tls) = (Vec::new(), Vec::new(), Vec::new());
    let mut response_len = 0;
    for (request, patient) in requests.iter().zip(&sample) {
        let expected = reference.evaluate(patient);
        for (times, engine) in [
            (&mut t_local, &local as &dyn Evaluator),
            (&mut t_unix, &over_unix as &dyn Evaluator),
            (&mut t_tls, &over_tls as &dyn Evaluator),
        ] {
            let t = Instant::now();
            let response = engine.evaluate(request).expect("evaluate");
            times.push(ms(t.elapsed()));
            response_len = response.len();
            let result = client.decrypt(&response).expect("decrypt");
            assert_eq!(result.probability_code, expected.probability_code);
        }
    }
    let request_len = requests[0].len();
    let wire_request = EvaluateRequest {
        request_id: 1,
        key_id: main_keys.key_id.as_bytes().to_vec(),
        model_fingerprint: fingerprint.to_vec(),
        request: requests[0].clone(),
    }
    .encoded_len();
    let wire_response = pulsecure_rpc::v1::EvaluateResponse {
        request_id: 1,
        response: vec![0; response_len],
        bootstrappings: 75,
        levels: 11,
        evaluate_micros: 600_000,
        error: None,
    }
    .encoded_len();
    let (t_local, t_unix, t_tls) = (sorted(t_local), sorted(t_unix), sorted(t_tls));
    let median = |v: &[f64]| percentile(v, 0.5);
    println!(
        "== latency per screening ({} requests each, interleaved; ms)",
        requests.len()
    );
    println!("path        min      median");
    for (name, v) in [
        ("in-process", &t_local),
        ("unix", &t_unix),
        ("mtls", &t_tls),
    ] {
        println!("{name:<10} {:>7.1} {:>9.1}", v[0], median(v));
    }
    println!(
        "added by the service (median): unix {:+.1} ms, mTLS {:+.1} ms",
        median(&t_unix) - median(&t_local),
        median(&t_tls) - median(&t_local)
    );
    println!(
        "bytes per screening: request frame {request_len}, response frame {response_len}; as protobuf messages {wire_request} + {wire_response}"
    );

    // Single-thread evaluation time (the throughput reference).
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let mut t_single = Vec::new();
    for request in requests.iter().take(3) {
        let t = Instant::now();
        single.install(|| local.evaluate(request).expect("evaluate"));
        t_single.push(ms(t.elapsed()));
    }
    let t_single = sorted(t_single);
    let ideal_per_s = cores as f64 / (t_single[0] / 1000.0);

    // 2. Load: 4 clients × 25 patients, each its own connection, two requests in flight each.
    let load_patients = support::varied_patients(&model, 100);
    let load_requests: Vec<(Vec<u8>, PatientFeatures)> = load_patients
        .iter()
        .map(|p| {
            (
                client
                    .encrypt(&QuantizedInput::from_patient(&model, p))
                    .expect("encrypt"),
                p.clone(),
            )
        })
        .collect();
    let load_requests = Arc::new(load_requests);
    let client = Arc::new(client);
    let started = Instant::now();
    let latencies: Vec<f64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|c| {
                let (socket, load_requests, client) = (
                    socket.clone(),
                    Arc::clone(&load_requests),
                    Arc::clone(&client),
                );
                let reference = &reference;
                scope.spawn(move || {
                    let connection = Arc::new(
                        Connection::connect(RemoteConfig::new(
                            EvaluatorAddress::Unix(socket),
                            None,
                        ))
                        .expect("connect"),
                    );
                    let remote = Arc::new(RemoteEvaluator::new(connection, 2));
                    let mine: Vec<usize> = (c * 25..(c + 1) * 25).collect();
                    let lat = std::sync::Mutex::new(Vec::new());
                    std::thread::scope(|inner| {
                        for lane in 0..2 {
                            let (remote, lat, mine, load_requests, client) =
                                (&remote, &lat, &mine, &load_requests, &client);
                            inner.spawn(move || {
                                for &i in mine.iter().skip(lane).step_by(2) {
                                    let (request, patient) = &load_requests[i];
                                    let t = Instant::now();
                                    let response = remote.evaluate(request).expect("evaluate");
                                    let took = ms(t.elapsed());
                                    let result = client.decrypt(&response).expect("decrypt");
                                    let expected = reference.evaluate(patient);
                                    assert_eq!(result.probability_code, expected.probability_code);
                                    assert_eq!(result.high_risk, expected.high_risk);
                                    lat.lock().expect("lock").push(took);
                                }
                            });
                        }
                    });
                    lat.into_inner().expect("lat")
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("client"))
            .collect()
    });
    let wall = started.elapsed();
    let latencies = sorted(latencies);
    let throughput = latencies.len() as f64 / wall.as_secs_f64();
    let fraction = throughput / ideal_per_s;
    println!("\n== load: 4 clients × 25 patients (2 in flight each), {cores} cores");
    println!(
        "single-thread evaluation: min {:.0} ms (median {:.0}); ideal {:.2} screenings/s",
        t_single[0],
        median(&t_single),
        ideal_per_s
    );
    println!(
        "{} screenings in {:.1} s = {:.2}/s = {:.2} of ideal; latency p50 {:.0} ms, p95 {:.0} ms; all equal to the reference",
        latencies.len(),
        wall.as_secs_f64(),
        throughput,
        fraction,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95)
    );

    // 3. RSS with 1 and 3 cached keys (the TLS server read the same key: a second process).
    let rss_one = rss_mb(unix_pid);
    for keys in &key_sets[1..] {
        unix.put_server_key(
            Arc::new(keys.server_key_bytes.clone()),
            &keys.key_id,
            Arc::new(|_| {}),
        )
        .expect("upload");
        let other = TfheClient::new(&model, keys.client_key.clone(), keys.key_id).expect("client");
        let request = other
            .encrypt(&QuantizedInput::from_patient(&model, &sample[0]))
            .expect("encrypt");
        RemoteEvaluator::new(Arc::clone(&unix), 1)
            .evaluate(&request)
            .expect("evaluate");
    }
    let status = unix.status().expect("status");
    let rss_three = rss_mb(unix_pid);
    println!(
        "\n== evaluator RSS: idle {rss_idle:.0} MB; 1 cached key {rss_one:.0} MB; {} cached keys {rss_three:.0} MB",
        status.cached_keys
    );

    // 4. Hostile barrage against the Unix-socket evaluator.
    let (mut raw, runtime) = unix.raw();
    let before = rss_mb(unix_pid);
    let good = EvaluateRequest {
        request_id: 1,
        key_id: main_keys.key_id.as_bytes().to_vec(),
        model_fingerprint: fingerprint.to_vec(),
        request: requests[0].clone(),
    };
    let cases: Vec<(&str, EvaluateRequest)> = vec![
        (
            "garbage frame",
            EvaluateRequest {
                request: vec![0xAB; 4000],
                ..good.clone()
            },
        ),
        (
            "truncated frame",
            EvaluateRequest {
                request: requests[0][..2000].to_vec(),
                ..good.clone()
            },
        ),
        (
            "oversized request",
            EvaluateRequest {
                request: vec![0; 300 << 10],
                ..good.clone()
            },
        ),
        (
            "bad key id length",
            EvaluateRequest {
                key_id: vec![1; 3],
                ..good.clone()
            },
        ),
        (
            "unknown key",
            EvaluateRequest {
                key_id: vec![5; 16],
                ..good.clone()
            },
        ),
        (
            "unknown model",
            EvaluateRequest {
                model_fingerprint: vec![3; 32],
                ..good.clone()
            },
        ),
    ];
    let mut statuses = Vec::new();
    let t = Instant::now();
    for (name, item) in &cases {
        let mut code = None;
        for _ in 0..300 {
            let answer = runtime.block_on(raw.evaluate(item.clone()));
            code = Some(answer.map(|_| tonic::Code::Ok).unwrap_or_else(|s| s.code()));
        }
        statuses.push((name.to_string(), format!("{:?}", code.expect("ran"))));
    }
    // 1 000 streams opened and closed without a message.
    runtime.block_on(async {
        for _ in 0..1000 {
            let stream = raw
                .evaluate_stream(tokio_stream::iter(Vec::<EvaluateRequest>::new()))
                .await
                .expect("stream");
            let mut inner = stream.into_inner();
            while inner.message().await.expect("end").is_some() {}
        }
    });
    statuses.push((
        "1000 empty streams".into(),
        "Ok (each ended at once)".into(),
    ));
    // A key upload beyond the limit (the server stops it at 128 MiB).
    let huge = runtime.block_on(async {
        let chunks = (0..140).map(|_| KeyChunk {
            key_id: Vec::new(),
            data: vec![0; 1 << 20],
        });
        raw.put_server_key(tokio_stream::iter(chunks)).await
    });
    statuses.push((
        "140 MiB key upload".into(),
        format!(
            "{:?}",
            huge.map(|_| tonic::Code::Ok).unwrap_or_else(|s| s.code())
        ),
    ));
    let barrage = t.elapsed();
    let after = rss_mb(unix_pid);
    let alive = unix.status().is_ok();
    println!("\n== hostile barrage ({:.1} s): RSS before {before:.0} MB, after {after:.0} MB, server alive: {alive}", barrage.as_secs_f64());
    for (name, code) in &statuses {
        println!("  {name:<22} {code}");
    }
    assert!(alive, "the evaluator died under the barrage");

    // The key an evaluator receives now (no OPRF key) against what earlier builds sent.
    let [with_oprf, _] = pulsecure_fhe::keys::generate_earlier_keys().expect("keygen");
    let earlier_key_bytes = with_oprf.server_key_bytes.len();
    println!(
        "\n== server key upload: {} B (earlier builds, with tfhe's OPRF key: {earlier_key_bytes} B)",
        main_keys.server_key_bytes.len()
    );

    let json = serde_json::json!({
        "cores": cores,
        "key_upload_ms": ms(upload),
        "server_key_bytes": main_keys.server_key_bytes.len(),
        "earlier_server_key_bytes": earlier_key_bytes,
        "latency_ms": {
            "in_process": {"min": t_local[0], "median": median(&t_local)},
            "unix": {"min": t_unix[0], "median": median(&t_unix)},
            "mtls": {"min": t_tls[0], "median": median(&t_tls)},
        },
        "bytes": {"request_frame": request_len, "response_frame": response_len,
                  "request_message": wire_request, "response_message": wire_response},
        "single_thread_eval_ms": {"min": t_single[0], "median": median(&t_single)},
        "load": {"screenings": latencies.len(), "wall_s": wall.as_secs_f64(),
                 "per_s": throughput, "fraction_of_ideal": fraction,
                 "p50_ms": percentile(&latencies, 0.5), "p95_ms": percentile(&latencies, 0.95)},
        "rss_mb": {"idle": rss_idle, "one_key": rss_one, "three_keys": rss_three,
                   "hostile_before": before, "hostile_after": after},
        "hostile": statuses,
    });
    println!("PULSECURE_SERVICE_BENCH {json}");
}
