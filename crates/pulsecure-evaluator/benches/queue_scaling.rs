//! `cargo bench --workspace --bench queue_scaling`: real `pulsecure-evaluator worker`
//! processes draining a PostgreSQL queue of real encrypted screenings — one worker against
//! two, each with one job at a time on one thread, on this machine's cores.
//!
//! Each worker first evaluates one warm-up job (downloading, checking and decompressing the
//! server key), then a batch of `JOBS` is enqueued and timed until the last result is
//! written. The configurations alternate for `ROUNDS` rounds; reported: seconds per batch
//! (min / median), the speed-up of two workers over one, and every result checked against
//! the reference engine.
//!
//! Prints a table and, last, one JSON line (`PULSECURE_QUEUE_SCALING {...}`).

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_core::ports::fhe::FheClient;
use pulsecure_core::{Model, QuantizedInput, ReferenceEngine};
use pulsecure_fhe::{generate_keys, model_fingerprint, TfheClient};
use pulsecure_queue::cluster::ThrowawayCluster;
use pulsecure_queue::{JobId, NewJob, Outcome, Queue, QueueAddress};

const JOBS: usize = 24;
const ROUNDS: usize = 3;

struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start_workers(url: &str, count: usize, dir: &std::path::Path) -> Workers {
    Workers(
        (0..count)
            .map(|i| {
                support::worker_command(url, &format!("w{i}"), dir)
                    .env("PULSECURE_LOG", "warn")
                    .stderr(Stdio::inherit())
                    .spawn()
                    .expect("start a worker")
            })
            .collect(),
    )
}

struct Batch {
    jobs: Vec<NewJob>,
    expected: Vec<(u32, bool)>,
}

fn batch(model: &Model, client: &TfheClient, key: [u8; 32], n: usize, seed: usize) -> Batch {
    let reference = ReferenceEngine::new(model);
    let mut jobs = Vec::new();
    let mut expected = Vec::new();
    for i in 0..n {
        let p = support::varied_patient(model, seed + i);
        let r = reference.evaluate(&p);
        expected.push((r.probability_code, r.high_risk));
        jobs.push(NewJob {
            id: JobId::random().expect("id"),
            key,
            model: model_fingerprint(model),
            request: client
                .encrypt(&QuantizedInput::from_patient(model, &p))
                .expect("encrypt"),
        });
    }
    Batch { jobs, expected }
}

async fn run(queue: &Queue, client: &TfheClient, batch: &Batch) -> Duration {
    let ids: Vec<JobId> = batch.jobs.iter().map(|j| j.id.clone()).collect();
    let started = Instant::now();
    queue.enqueue(&batch.jobs, 3).await.expect("enqueue");
    let deadline = started + Duration::from_secs(1800);
    loop {
        if queue.counts(Some(&ids)).await.expect("counts").pending() == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the batch did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let finished: std::collections::HashMap<JobId, Outcome> = queue
        .finished(&ids)
        .await
        .expect("finished")
        .into_iter()
        .collect();
    for (id, expected) in ids.iter().zip(&batch.expected) {
        let Some(Outcome::Done(bytes)) = finished.get(id) else {
            panic!("job {id} did not complete");
        };
        let r = client.decrypt(bytes).expect("decrypt");
        assert_eq!((r.probability_code, r.high_risk), *expected, "wrong result");
    }
    queue.acknowledge(&ids).await.expect("ack");
    elapsed
}

fn min_median(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2])
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cluster = ThrowawayCluster::start_durable().unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
    let url = cluster.url();
    let dir = tempfile::tempdir().expect("tmp");
    let model = Model::from_json(DEFAULT_MODEL_JSON).expect("model");
    let keys = generate_keys().expect("keygen");
    let client = TfheClient::new(&model, keys.client_key, keys.key_id).expect("client");
    let address = QueueAddress::parse_with_password(&url, None).expect("address");
    let queue = Queue::connect(&address).await.expect("connect");
    let key = queue
        .put_server_key(&keys.server_key_bytes)
        .await
        .expect("key");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    let mut seconds: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut seed = 0;
    for round in 0..ROUNDS {
        for (index, count) in [1usize, 2].into_iter().enumerate() {
            let workers = start_workers(&url, count, dir.path());
            // Warm-up: one job per worker, so each holds the decompressed key.
            let warm = batch(&model, &client, key, count, 10_000 + seed);
            run(&queue, &client, &warm).await;
            let measured = batch(&model, &client, key, JOBS, seed);
            seed += JOBS;
            let elapsed = run(&queue, &client, &measured).await;
            drop(workers);
            eprintln!(
                "round {round}: {count} worker(s), {JOBS} screenings in {:.2} s",
                elapsed.as_secs_f64()
            );
            seconds[index].push(elapsed.as_secs_f64());
        }
    }
    let (one_min, one_med) = min_median(seconds[0].clone());
    let (two_min, two_med) = min_median(seconds[1].clone());
    // The speed-up of each round (the two configurations ran back to back), then min/median.
    let (speedup_min, speedup_med) = min_median(
        seconds[0]
            .iter()
            .zip(&seconds[1])
            .map(|(a, b)| a / b)
            .collect(),
    );
    println!(
        "queue workers, real engine, {JOBS} screenings per batch, {cores} cores, {ROUNDS} rounds"
    );
    println!(
        "  1 worker   {one_min:.2} / {one_med:.2} s (min / median)   {:.0} ms per screening",
        1e3 * one_med / JOBS as f64
    );
    println!(
        "  2 workers  {two_min:.2} / {two_med:.2} s (min / median)   {:.0} ms per screening",
        1e3 * two_med / JOBS as f64
    );
    println!("  speed-up of 2 workers over 1: {speedup_min:.2} / {speedup_med:.2} (min / median of the rounds)");
    println!("  every result equal to the reference engine");
    println!(
        "PULSECURE_QUEUE_SCALING {{\"jobs\":{JOBS},\"rounds\":{ROUNDS},\"cores\":{cores},\"one_worker_s\":[{one_min:.3},{one_med:.3}],\"two_workers_s\":[{two_min:.3},{two_med:.3}],\"speedup\":[{speedup_min:.3},{speedup_med:.3}]}}"
    );
}
