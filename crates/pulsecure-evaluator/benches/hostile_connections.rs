//! `cargo bench --bench hostile_connections`: the evaluator's memory and service under
//! hostile connections (issue 30, part 4), with its default limits, over mutual TLS:
//!
//! - 300 TCP connections that never send a ClientHello, topped up as the evaluator closes
//!   them;
//! - 6 authenticated connections, each keeping its 16 streams busy with unary `Evaluate`
//!   calls whose message stops after 900 KiB of an announced 1 000 000 bytes (re-sent as
//!   each is ended);
//! - meanwhile a clinic with a valid certificate evaluates patients on its own connection.
//!
//! Samples the evaluator's VmRSS every 500 ms for `PULSECURE_HOSTILE_SECONDS` (default 40)
//! and reports min / median / max, VmHWM, the valid client's evaluations and latencies, and
//! how the hostile calls ended. Last line: `PULSECURE_HOSTILE_BENCH {json}`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_core::ports::fhe::{Evaluator, FheClient};
use pulsecure_core::{Model, QuantizedInput, ReferenceEngine};
use pulsecure_evaluator_client::{ClientTls, Connection, RemoteConfig, RemoteEvaluator};
use pulsecure_fhe::{generate_keys, TfheClient};
use pulsecure_rpc::EvaluatorAddress;
use support::hostile::{self, Pki};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let seconds: u64 = std::env::var("PULSECURE_HOSTILE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let pki = Pki::new(d);
    let clinic = pki.client("clinic", &["clinic"]);
    let attacker = pki.client("attacker", &["attacker"]);
    let port = hostile::free_port();
    let log = d.join("evaluator.log");
    let mut child = Command::new(support::binary())
        .args(pki.serve_args(port, &d.join("data")))
        .env("PULSECURE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start the evaluator");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the evaluator did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The clinic: key uploaded, one evaluation to warm the cache.
    let model = Model::from_json(DEFAULT_MODEL_JSON).expect("model");
    let keys = generate_keys().expect("keygen");
    let mut config = RemoteConfig::new(
        EvaluatorAddress::Https(format!("https://127.0.0.1:{port}")),
        Some(ClientTls {
            ca: pki.ca.clone(),
            cert: clinic.0.clone(),
            key: clinic.1.clone(),
        }),
    );
    config.retry_for = Duration::from_secs(0);
    config.call_timeout = Duration::from_secs(60);
    let connection = Arc::new(Connection::connect(config).expect("connect"));
    connection
        .put_server_key(
            Arc::new(keys.server_key_bytes.clone()),
            &keys.key_id,
            Arc::new(|_| {}),
        )
        .expect("upload");
    let client = TfheClient::new(&model, keys.client_key.clone(), keys.key_id).expect("client");
    let remote = RemoteEvaluator::new(Arc::clone(&connection), 1);
    let patients = support::varied_patients(&model, 8);
    let requests: Vec<Vec<u8>> = patients
        .iter()
        .map(|p| {
            client
                .encrypt(&QuantizedInput::from_patient(&model, p))
                .expect("encrypt")
        })
        .collect();
    remote.evaluate(&requests[0]).expect("warm-up");
    let baseline_kb = hostile::status_kb(pid, "VmRSS");

    // The attackers' six authenticated connections, opened before the flood.
    let attack_runtime = tokio::runtime::Runtime::new().expect("runtime");
    let channels: Vec<tonic::transport::Channel> = attack_runtime.block_on(async {
        let mut channels = Vec::new();
        for _ in 0..6 {
            channels.push(
                hostile::tls_channel(port, &pki.ca, &attacker.0, &attacker.1)
                    .await
                    .expect("attacker channel"),
            );
        }
        channels
    });
    let stop = Arc::new(AtomicBool::new(false));
    let flood_closed = Arc::new(AtomicUsize::new(0));
    let flood_open = Arc::new(AtomicUsize::new(0));
    // 1. The flood, topped up to 300 open sockets every 200 ms.
    let flood = {
        let (stop, closed, open) = (
            Arc::clone(&stop),
            Arc::clone(&flood_closed),
            Arc::clone(&flood_open),
        );
        std::thread::spawn(move || {
            let mut sockets: Vec<std::net::TcpStream> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let before = sockets.len();
                sockets.retain_mut(|s| !hostile::is_closed(s));
                closed.fetch_add(before - sockets.len(), Ordering::Relaxed);
                let missing = 300 - sockets.len();
                sockets.extend(hostile::silent_sockets(port, missing));
                open.store(sockets.len(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    // 2. Six authenticated connections × 16 half-sent unary calls, re-sent as they end.
    let outcomes: Arc<Mutex<std::collections::BTreeMap<String, usize>>> = Default::default();
    let slow = {
        let (stop, outcomes) = (Arc::clone(&stop), Arc::clone(&outcomes));
        let handle = attack_runtime.handle().clone();
        std::thread::spawn(move || {
            handle.block_on(async move {
                let mut tasks = Vec::new();
                for channel in channels {
                    for _ in 0..16 {
                        let (channel, stop, outcomes) =
                            (channel.clone(), Arc::clone(&stop), Arc::clone(&outcomes));
                        tasks.push(tokio::spawn(async move {
                            while !stop.load(Ordering::Relaxed) {
                                let call = hostile::send(
                                    channel.clone(),
                                    hostile::stalled_evaluate(1_000_000, 900 << 10),
                                );
                                let outcome = match tokio::time::timeout(
                                    Duration::from_secs(5),
                                    call,
                                )
                                .await
                                {
                                    Err(_) => "pending after 15 s".to_string(),
                                    Ok(Err(e)) => format!("transport error: {e}"),
                                    Ok(Ok(response)) => {
                                        match hostile::grpc_status(response).await {
                                            Some(code) => {
                                                format!("{:?}", tonic::Code::from(code))
                                            }
                                            None => "no status".into(),
                                        }
                                    }
                                };
                                *outcomes.lock().expect("lock").entry(outcome).or_default() += 1;
                            }
                        }));
                    }
                }
                for task in tasks {
                    let _ = task.await;
                }
            });
        })
    };
    // 3. The clinic evaluates throughout; the evaluator's RSS is sampled.
    let reference = ReferenceEngine::new(&model);
    let started = Instant::now();
    let (mut rss, mut latencies, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    let mut next_sample = Instant::now();
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        if Instant::now() >= next_sample {
            rss.push(hostile::status_kb(pid, "VmRSS") as f64 / 1024.0);
            next_sample += Duration::from_millis(500);
        }
        let t = Instant::now();
        match remote.evaluate(&requests[i % requests.len()]) {
            Ok(response) => {
                let result = client.decrypt(&response).expect("decrypt");
                let expected = reference.evaluate(&patients[i % patients.len()]);
                assert_eq!(result.probability_code, expected.probability_code);
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            Err(e) => failures.push(e.to_string()),
        }
        i += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    let hwm_mb = hostile::status_kb(pid, "VmHWM") as f64 / 1024.0;
    let cpu = hostile::cpu_time(pid);
    stop.store(true, Ordering::Relaxed);
    let _ = flood.join();
    let _ = slow.join();
    let _ = child.kill();
    let _ = child.wait();

    let (rss_min, rss_max) = (
        rss.iter().copied().fold(f64::INFINITY, f64::min),
        rss.iter().copied().fold(0.0, f64::max),
    );
    let rss_median = median(&mut rss);
    let served = latencies.len();
    let latency_median = median(&mut latencies);
    let latency_max = latencies.iter().copied().fold(0.0, f64::max);
    let outcomes = outcomes.lock().expect("lock").clone();
    println!("== evaluator under 300 handshake-less + 6 slow-body connections ({seconds} s)");
    println!(
        "RSS: before the attack {:.0} MB; during min {rss_min:.0} / median {rss_median:.0} / max {rss_max:.0} MB; VmHWM {hwm_mb:.0} MB",
        baseline_kb as f64 / 1024.0
    );
    println!(
        "valid client: {served} evaluations (all equal to the reference), {} failed; latency median {latency_median:.0} ms, max {latency_max:.0} ms",
        failures.len()
    );
    println!(
        "flood: {} sockets closed by the evaluator, {} open at the end",
        flood_closed.load(Ordering::Relaxed),
        flood_open.load(Ordering::Relaxed)
    );
    println!("half-sent calls ended: {outcomes:?}");
    println!("evaluator CPU time in all: {cpu:?}");
    for f in failures.iter().take(5) {
        println!("  failure: {f}");
    }
    let json = serde_json::json!({
        "seconds": seconds,
        "rss_mb": {"baseline": baseline_kb as f64 / 1024.0, "min": rss_min,
                   "median": rss_median, "max": rss_max, "hwm": hwm_mb},
        "valid_client": {"served": served, "failed": failures.len(),
                          "latency_ms_median": latency_median, "latency_ms_max": latency_max},
        "flood_closed": flood_closed.load(Ordering::Relaxed),
        "slow_body_outcomes": outcomes,
    });
    println!("PULSECURE_HOSTILE_BENCH {json}");
}
