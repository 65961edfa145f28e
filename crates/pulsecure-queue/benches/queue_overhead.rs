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
//! Prints a table and, last, one JSON line (`PULSECURE_QUEUE_BENCH {...}`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use pulsecure_queue::cluster::ThrowawayCluster;
use pulsecure_queue::{
    run_worker, ClaimedJob, JobEngine, JobId, KeyHash, NewJob, Queue, QueueAddress, WorkerConfig,
};
use tokio::sync::watch;

const JOBS: usize = 10_000;
const REQUEST_BYTES: usize = 2_673;
const RESULT_BYTES: usize = 1_500;
const ROUNDS: usize = 3;
/// One programmable bootstrapping on this machine (docs/performance.md), for scale.
const ONE_PBS_MS: f64 = 21.0;

struct AnswersAtOnce;

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
        Ok(vec![job.request[0]; RESULT_BYTES])
    }
}

fn jobs(key: KeyHash) -> Vec<NewJob> {
    (0..JOBS)
        .map(|i| NewJob {
            id: JobId::random().expect("id"),
            key,
            model: [1; 32],
            request: vec![(i % 251) as u8; REQUEST_BYTES],
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
) -> Duration {
    let (stop_tx, stop) = watch::channel(false);
    let mut config = WorkerConfig::new(format!("bench-{slots}"));
    config.concurrency = slots;
    config.synchronous_commit = synchronous_commit;
    config.poll = Duration::from_millis(100);
    let started = Instant::now();
    let worker = tokio::spawn(run_worker(
        address.clone(),
        Arc::new(AnswersAtOnce),
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cluster = ThrowawayCluster::start_durable().unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
    let address = QueueAddress::parse_with_password(&cluster.url(), None).expect("address");
    let queue = Queue::connect(&address).await.expect("connect");
    let key = queue.put_server_key(b"bench key").await.expect("key");

    let mut enqueue_ms = Vec::new();
    // Worker commits: asynchronous (the default) with 1 and 2 slots, synchronous with 1.
    let settings = [(1usize, false), (2, false), (1, true)];
    let mut drain_ms: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut collect_ms = Vec::new();
    for round in 0..ROUNDS {
        for (slot_index, (slots, synchronous)) in settings.into_iter().enumerate() {
            let batch = jobs(key);
            let ids: Vec<JobId> = batch.iter().map(|j| j.id.clone()).collect();
            let started = Instant::now();
            for chunk in batch.chunks(500) {
                queue.enqueue(chunk, 3).await.expect("enqueue");
            }
            enqueue_ms.push(started.elapsed().as_secs_f64() * 1e3 / JOBS as f64);
            let elapsed = drain(&address, &queue, &ids, slots, synchronous).await;
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
        "PULSECURE_QUEUE_BENCH {{\"jobs\":{JOBS},\"rounds\":{ROUNDS},\"enqueue_ms\":[{enq_min:.4},{enq_med:.4}],\"drain_1_slot_ms\":[{one_min:.4},{one_med:.4}],\"drain_2_slots_ms\":[{two_min:.4},{two_med:.4}],\"drain_1_slot_synchronous_ms\":[{sync_min:.4},{sync_med:.4}],\"collect_ms\":[{col_min:.4},{col_med:.4}]}}"
    );
}
