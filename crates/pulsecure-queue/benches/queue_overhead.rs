//! `cargo bench --workspace --bench queue_overhead`: what the PostgreSQL queue itself costs
//! per job, with a stand-in engine that answers at once, on a throwaway cluster with
//! PostgreSQL's default durability (fsync on, synchronous commits).
//!
//! 10 000 jobs of a real request's size (2 673 bytes) are enqueued in batches of 500, then
//! drained by workers of 1 and of 2 slots (each slot: claim with its lease, then complete
//! with the result, one statement each), with the workers' default asynchronous commits,
//! and by 1 slot with synchronous commits, three rounds each, then collected (read +
//! acknowledge).
//! Reported: ms per job and jobs per second, min and median over the rounds, and the
//! overhead against one bootstrapping (21.0 ms measured by `pulsecure bench` here).
//!
//! First, what the queue stores per job (issue 35): 2 000 jobs of incompressible bytes (as
//! ciphertexts are) drained and left uncollected, for the uncompressed cvd-lr result of
//! earlier builds (66 254 bytes) and today's compressed one (1 437 bytes): the table's growth
//! with its TOAST and indexes (`pg_total_relation_size`) and the WAL written
//! (`pg_current_wal_lsn`), per job.
//!
//! Prints a table, one `PULSECURE_QUEUE_STORAGE [...]` line and, last, one JSON line
//! (`PULSECURE_QUEUE_BENCH {...}`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use pulsecure_queue::cluster::ThrowawayCluster;
use pulsecure_queue::{
    run_worker, ClaimedJob, JobEngine, JobId, KeyHash, NewJob, Queue, QueueAddress, WorkerConfig,
};
use tokio::sync::watch;

const JOBS: usize = 10_000;
const REQUEST_BYTES: usize = 2_673;
/// Today's compressed cvd-lr result frame (`pulsecure bench`'s `download_bytes`).
const RESULT_BYTES: usize = 1_437;
/// The uncompressed cvd-lr result frame of earlier builds.
const UNCOMPRESSED_RESULT_BYTES: usize = 66_254;
/// Jobs per storage measurement.
const STORAGE_JOBS: usize = 2_000;
const ROUNDS: usize = 3;
/// One programmable bootstrapping on this machine (docs/performance.md), for scale.
const ONE_PBS_MS: f64 = 21.0;

/// Answers every job at once with `result_bytes` pseudo-random (incompressible) bytes.
struct AnswersAtOnce {
    result_bytes: usize,
}

/// `n` bytes of SplitMix64 output from `seed`: as incompressible as a ciphertext, so
/// PostgreSQL's TOAST compression gains nothing on them either.
fn noise_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(n);
    out
}

impl JobEngine for AnswersAtOnce {
    fn warm_keys(&self) -> Vec<KeyHash> {
        Vec::new()
    }
    fn has_key(&self, _hash: &KeyHash) -> bool {
        true
    }
    fn add_key(&self, _hash: &KeyHash, _bytes: Vec<u8>) -> Result<(), String> {
        Ok(())
    }
    fn evaluate(&self, job: &ClaimedJob) -> Result<Vec<u8>, String> {
        let seed = job
            .request
            .iter()
            .take(8)
            .fold(0u64, |a, &b| (a << 8) | u64::from(b));
        Ok(noise_bytes(seed, self.result_bytes))
    }
}

fn jobs(key: KeyHash, count: usize, round: usize) -> Vec<NewJob> {
    (0..count)
        .map(|i| NewJob {
            id: JobId::random().expect("id"),
            key,
            model: [1; 32],
            request: noise_bytes((round * count + i) as u64, REQUEST_BYTES),
        })
        .collect()
}

fn min_median(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2])
}

async fn drain(
    address: &QueueAddress,
    queue: &Queue,
    ids: &[JobId],
    slots: usize,
    synchronous_commit: bool,
    result_bytes: usize,
) -> Duration {
    let (stop_tx, stop) = watch::channel(false);
    let mut config = WorkerConfig::new(format!("bench-{slots}"));
    config.concurrency = slots;
    config.synchronous_commit = synchronous_commit;
    config.poll = Duration::from_millis(100);
    let started = Instant::now();
    let worker = tokio::spawn(run_worker(
        address.clone(),
        Arc::new(AnswersAtOnce { result_bytes }),
        config,
        stop,
    ));
    // The queue holds only this batch: count all jobs (cheap), not the 10 000 ids (a
    // 10 000-element ANY() every poll would load the database the workers are measured on).
    loop {
        let counts = queue.counts(None).await.expect("counts");
        if counts.pending() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    stop_tx.send(true).expect("stop");
    let stats = worker.await.expect("worker");
    assert_eq!(
        stats.completed.load(std::sync::atomic::Ordering::Relaxed),
        ids.len() as u64
    );
    elapsed
}

/// Table growth (with TOAST and indexes) and WAL written per job, for `STORAGE_JOBS` jobs
/// enqueued, drained with results of `result_bytes` and left uncollected; then acknowledged
/// and the table compacted, so each measurement starts from the same empty table.
async fn storage_per_job(
    url: &str,
    address: &QueueAddress,
    queue: &Queue,
    key: KeyHash,
    result_bytes: usize,
    round: usize,
) -> (f64, f64) {
    let (sql, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect for sizes");
    tokio::spawn(connection);
    let sizes = || async {
        let row = sql
            .query_one(
                "SELECT pg_total_relation_size('pulsecure_jobs')::float8, \
                        pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8",
                &[],
            )
            .await
            .expect("sizes");
        (row.get::<_, f64>(0), row.get::<_, f64>(1))
    };
    // One statement per call: VACUUM cannot run in the implicit transaction of a batch.
    for statement in ["VACUUM FULL pulsecure_jobs", "CHECKPOINT"] {
        sql.batch_execute(statement).await.expect(statement);
    }
    let (table0, wal0) = sizes().await;
    let batch = jobs(key, STORAGE_JOBS, 10_000 + round);
    let ids: Vec<JobId> = batch.iter().map(|j| j.id.clone()).collect();
    for chunk in batch.chunks(500) {
        queue.enqueue(chunk, 3).await.expect("enqueue");
    }
    drain(address, queue, &ids, 1, false, result_bytes).await;
    let (table1, wal1) = sizes().await;
    for chunk in ids.chunks(500) {
        queue.acknowledge(chunk).await.expect("ack");
    }
    let n = STORAGE_JOBS as f64;
    ((table1 - table0) / n, (wal1 - wal0) / n)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cluster = ThrowawayCluster::start_durable().unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
    let address = QueueAddress::parse_with_password(&cluster.url(), None).expect("address");
    let queue = Queue::connect(&address).await.expect("connect");
    let key = queue.put_server_key(b"bench key").await.expect("key");
    let mut storage = Vec::new();
    for (round, result_bytes) in [UNCOMPRESSED_RESULT_BYTES, RESULT_BYTES]
        .into_iter()
        .enumerate()
    {
        let (table, wal) =
            storage_per_job(&cluster.url(), &address, &queue, key, result_bytes, round).await;
        storage.push((result_bytes, table, wal));
    }

    let mut enqueue_ms = Vec::new();
    // Worker commits: asynchronous (the default) with 1 and 2 slots, synchronous with 1.
    let settings = [(1usize, false), (2, false), (1, true)];
    let mut drain_ms: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut collect_ms = Vec::new();
    for round in 0..ROUNDS {
        for (slot_index, (slots, synchronous)) in settings.into_iter().enumerate() {
            let batch = jobs(key, JOBS, 100 + round * 3 + slot_index);
            let ids: Vec<JobId> = batch.iter().map(|j| j.id.clone()).collect();
            let started = Instant::now();
            for chunk in batch.chunks(500) {
                queue.enqueue(chunk, 3).await.expect("enqueue");
            }
            enqueue_ms.push(started.elapsed().as_secs_f64() * 1e3 / JOBS as f64);
            let elapsed = drain(&address, &queue, &ids, slots, synchronous, RESULT_BYTES).await;
            drain_ms[slot_index].push(elapsed.as_secs_f64() * 1e3 / JOBS as f64);
            let started = Instant::now();
            for chunk in ids.chunks(500) {
                let finished = queue.finished(chunk).await.expect("finished");
                assert_eq!(finished.len(), chunk.len());
                queue.acknowledge(chunk).await.expect("ack");
            }
            collect_ms.push(started.elapsed().as_secs_f64() * 1e3 / JOBS as f64);
            eprintln!(
                "round {round}, {slots} slot(s), synchronous commits {synchronous}: drained {JOBS} jobs in {:.1} s",
                elapsed.as_secs_f64()
            );
        }
    }
    let (enq_min, enq_med) = min_median(enqueue_ms);
    let (one_min, one_med) = min_median(drain_ms[0].clone());
    let (two_min, two_med) = min_median(drain_ms[1].clone());
    let (sync_min, sync_med) = min_median(drain_ms[2].clone());
    let (col_min, col_med) = min_median(collect_ms);
    println!("queue overhead per job, {JOBS} jobs, fsync on, min / median of {ROUNDS} rounds");
    println!(
        "  enqueue (batches of 500)     {enq_min:.3} / {enq_med:.3} ms   ({:.0} jobs/s)",
        1e3 / enq_med
    );
    println!(
        "  claim+lease+complete, 1 slot {one_min:.3} / {one_med:.3} ms   ({:.0} jobs/s)",
        1e3 / one_med
    );
    println!(
        "  claim+lease+complete, 2 slots {two_min:.3} / {two_med:.3} ms   ({:.0} jobs/s)",
        1e3 / two_med
    );
    println!(
        "  collect (read + acknowledge) {col_min:.3} / {col_med:.3} ms   ({:.0} jobs/s)",
        1e3 / col_med
    );
    println!(
        "  a job's queue round trip (1 slot, median) is {:.1}% of one bootstrapping ({ONE_PBS_MS} ms)",
        100.0 * one_med / ONE_PBS_MS
    );
    println!(
        "queue storage per job ({STORAGE_JOBS} jobs done, uncollected; request {REQUEST_BYTES} B)"
    );
    for (result_bytes, table, wal) in &storage {
        println!(
            "  result {result_bytes:>6} B: table+TOAST+indexes {table:>8.0} B, WAL {wal:>8.0} B per job (a million: {:.2} GB stored, {:.2} GB of WAL)",
            table * 1e6 / 1e9,
            wal * 1e6 / 1e9
        );
    }
    let storage_json: Vec<String> = storage
        .iter()
        .map(|(r, t, w)| {
            format!("{{\"result_bytes\":{r},\"table_bytes_per_job\":{t:.0},\"wal_bytes_per_job\":{w:.0}}}")
        })
        .collect();
    println!("PULSECURE_QUEUE_STORAGE [{}]", storage_json.join(","));
    println!(
        "PULSECURE_QUEUE_BENCH {{\"jobs\":{JOBS},\"rounds\":{ROUNDS},\"enqueue_ms\":[{enq_min:.4},{enq_med:.4}],\"drain_1_slot_ms\":[{one_min:.4},{one_med:.4}],\"drain_2_slots_ms\":[{two_min:.4},{two_med:.4}],\"drain_1_slot_synchronous_ms\":[{sync_min:.4},{sync_med:.4}],\"collect_ms\":[{col_min:.4},{col_med:.4}]}}"
    );
}
