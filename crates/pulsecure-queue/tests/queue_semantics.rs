//! The queue against a real throwaway PostgreSQL: exactly-once completion with concurrent
//! workers, lease take-over, poisoned jobs, key preference, retention, NOTIFY wake-ups,
//! a database restart, migrations, TLS verify-full. The engine here is a stand-in (it
//! reverses the request bytes) so that every result can be checked against its input.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pulsecure_queue::cluster::{ServerTls, ThrowawayCluster};
use pulsecure_queue::{
    run_worker, ClaimedJob, JobEngine, JobId, KeyHash, LeaseOutcome, NewJob, Outcome, Queue,
    QueueAddress, ReadLimits, WorkerConfig, WorkerStats,
};
use tokio::sync::watch;

/// Reverses the request (after `delay`); refuses requests starting with `poison`; counts
/// evaluations.
#[derive(Default)]
struct Reverser {
    keys: Mutex<Vec<KeyHash>>,
    evaluations: Mutex<HashMap<String, u32>>,
    delay: Duration,
}

impl JobEngine for Reverser {
    fn warm_keys(&self) -> Vec<KeyHash> {
        self.keys.lock().expect("lock").clone()
    }
    fn has_key(&self, hash: &KeyHash) -> bool {
        self.keys.lock().expect("lock").contains(hash)
    }
    fn add_key(&self, hash: &KeyHash, _bytes: Vec<u8>) -> Result<(), String> {
        self.keys.lock().expect("lock").push(*hash);
        Ok(())
    }
    fn evaluate(&self, job: &ClaimedJob) -> Result<Vec<u8>, String> {
        *self
            .evaluations
            .lock()
            .expect("lock")
            .entry(job.id.to_string())
            .or_default() += 1;
        std::thread::sleep(self.delay);
        if job.request.starts_with(b"poison") {
            return Err("malformed request: not a ciphertext".into());
        }
        Ok(job.request.iter().rev().copied().collect())
    }
}

fn cluster() -> ThrowawayCluster {
    ThrowawayCluster::start().unwrap_or_else(|e| panic!("throwaway PostgreSQL: {e}"))
}

fn address(cluster: &ThrowawayCluster) -> QueueAddress {
    QueueAddress::parse_with_password(&cluster.url(), None).expect("address")
}

fn jobs(key: KeyHash, n: usize, tag: &str) -> Vec<NewJob> {
    (0..n)
        .map(|i| NewJob {
            id: JobId::random().expect("id"),
            key,
            model: [7; 32],
            request: format!("{tag}-request-{i}").into_bytes(),
        })
        .collect()
}

fn fast(id: &str) -> WorkerConfig {
    let mut config = WorkerConfig::new(id);
    config.concurrency = 2;
    config.lease = Duration::from_secs(2);
    config.poll = Duration::from_millis(200);
    config.retry_backoff = Duration::from_millis(50);
    config
}

async fn wait_until_finished(queue: &Queue, ids: &[JobId], limit: Duration) {
    let start = Instant::now();
    loop {
        let counts = queue.counts(Some(ids)).await.expect("counts");
        if counts.pending() == 0 && counts.total() == ids.len() as u64 {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "jobs still pending after {limit:?}: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn spawn_workers(
    address: &QueueAddress,
    engine: &Arc<Reverser>,
    names: &[&str],
    stop: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<Arc<WorkerStats>>> {
    names
        .iter()
        .map(|name| {
            tokio::spawn(run_worker(
                address.clone(),
                Arc::clone(engine),
                fast(name),
                stop.clone(),
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_workers_complete_every_job_exactly_once_with_the_right_result() {
    let cluster = cluster();
    let address = address(&cluster);
    let queue = Queue::connect(&address).await.expect("connect");
    let key = queue.put_server_key(b"server key A").await.expect("key");
    let batch = jobs(key, 300, "exact");
    assert_eq!(queue.enqueue(&batch, 3).await.expect("enqueue"), 300);
    // Enqueueing again (a client resuming) adds nothing.
    assert_eq!(queue.enqueue(&batch, 3).await.expect("again"), 0);
    let engine = Arc::new(Reverser::default());
    let (stop_tx, stop) = watch::channel(false);
    let workers = spawn_workers(&address, &engine, &["w1", "w2", "w3"], &stop);
    let ids: Vec<JobId> = batch.iter().map(|j| j.id.clone()).collect();
    wait_until_finished(&queue, &ids, Duration::from_secs(120)).await;
    stop_tx.send(true).expect("stop");
    let mut completed = 0;
    for w in workers {
        completed += w.await.expect("worker").completed.load(Ordering::Relaxed);
    }
    assert_eq!(completed, 300, "completions across workers");
    let finished = queue.finished(&ids).await.expect("finished");
    assert_eq!(finished.len(), 300);
    let by_id: HashMap<_, _> = batch.iter().map(|j| (j.id.clone(), &j.request)).collect();
    for (id, outcome) in &finished {
        let expected: Vec<u8> = by_id[id].iter().rev().copied().collect();
        assert_eq!(outcome, &Outcome::Done(expected));
    }
    let evaluated_once = engine
        .evaluations
        .lock()
        .expect("lock")
        .values()
        .all(|&n| n == 1);
    assert!(evaluated_once, "a job was evaluated twice");
    // Collected jobs leave the queue with their ciphertexts.
    assert_eq!(queue.acknowledge(&ids).await.expect("ack"), 300);
    assert_eq!(queue.counts(None).await.expect("counts").total(), 0);
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_the_late_result_is_discarded() {
    let cluster = cluster();
    let queue = Queue::connect(&address(&cluster)).await.expect("connect");
    let key = queue.put_server_key(b"key").await.expect("key");
    queue
        .enqueue(&jobs(key, 1, "lease"), 3)
        .await
        .expect("enqueue");
    let lease = Duration::from_millis(300);
    let first = queue
        .claim("slow", lease, &[])
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(first.attempt, 1);
    assert!(
        queue
            .claim("other", lease, &[])
            .await
            .expect("claim")
            .is_none(),
        "leased job claimed twice"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let expired = queue.expire_leases().await.expect("expire");
    assert_eq!(expired.requeued, 1);
    let second = queue
        .claim("fast", lease * 10, &[])
        .await
        .expect("claim")
        .expect("taken over");
    assert_eq!((second.id.clone(), second.attempt), (first.id.clone(), 2));
    assert_eq!(
        queue.renew("slow", &first, lease).await.expect("renew"),
        LeaseOutcome::Lost
    );
    assert_eq!(
        queue.complete("slow", &first, b"late").await.expect("late"),
        LeaseOutcome::Lost
    );
    assert_eq!(
        queue
            .complete("fast", &second, b"right")
            .await
            .expect("done"),
        LeaseOutcome::Written
    );
    let finished = queue
        .finished(std::slice::from_ref(&first.id))
        .await
        .expect("finished");
    assert_eq!(finished, vec![(first.id, Outcome::Done(b"right".to_vec()))]);
}

#[tokio::test]
async fn a_job_whose_leases_keep_expiring_fails_instead_of_going_round_forever() {
    let cluster = cluster();
    let queue = Queue::connect(&address(&cluster)).await.expect("connect");
    let key = queue.put_server_key(b"key").await.expect("key");
    let batch = jobs(key, 1, "killer");
    queue.enqueue(&batch, 2).await.expect("enqueue");
    for _ in 0..2 {
        queue
            .claim("dies", Duration::from_millis(100), &[])
            .await
            .expect("claim")
            .expect("job");
        tokio::time::sleep(Duration::from_millis(200)).await;
        queue.expire_leases().await.expect("expire");
    }
    match &queue
        .finished(&[batch[0].id.clone()])
        .await
        .expect("finished")[..]
    {
        [(_, Outcome::Failed(reason))] => assert!(reason.contains("lease expired"), "{reason}"),
        other => panic!("expected a failed job, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poisoned_job_fails_with_its_reason_after_its_attempts_and_blocks_nothing() {
    let cluster = cluster();
    let address = address(&cluster);
    let queue = Queue::connect(&address).await.expect("connect");
    let key = queue.put_server_key(b"key").await.expect("key");
    let poison = NewJob {
        id: JobId::random().expect("id"),
        key,
        model: [7; 32],
        request: b"poison: not a ciphertext".to_vec(),
    };
    queue
        .enqueue(std::slice::from_ref(&poison), 3)
        .await
        .expect("poison first");
    let good = jobs(key, 20, "good");
    queue.enqueue(&good, 3).await.expect("enqueue");
    let engine = Arc::new(Reverser::default());
    let (stop_tx, stop) = watch::channel(false);
    let workers = spawn_workers(&address, &engine, &["w1"], &stop);
    let mut ids: Vec<JobId> = good.iter().map(|j| j.id.clone()).collect();
    ids.push(poison.id.clone());
    wait_until_finished(&queue, &ids, Duration::from_secs(60)).await;
    stop_tx.send(true).expect("stop");
    for w in workers {
        w.await.expect("worker");
    }
    let counts = queue.counts(Some(&ids)).await.expect("counts");
    assert_eq!((counts.done, counts.failed), (20, 1));
    let finished = queue
        .finished(std::slice::from_ref(&poison.id))
        .await
        .expect("finished");
    assert_eq!(
        finished,
        vec![(
            poison.id.clone(),
            Outcome::Failed("malformed request: not a ciphertext".into())
        )]
    );
    assert_eq!(
        engine.evaluations.lock().expect("lock")[poison.id.as_str()],
        3
    );
}

#[tokio::test]
async fn jobs_for_keys_the_worker_holds_are_claimed_first() {
    let cluster = cluster();
    let queue = Queue::connect(&address(&cluster)).await.expect("connect");
    let cold = queue.put_server_key(b"cold key").await.expect("key");
    let warm = queue.put_server_key(b"warm key").await.expect("key");
    queue
        .enqueue(&jobs(cold, 3, "cold"), 3)
        .await
        .expect("enqueue");
    queue
        .enqueue(&jobs(warm, 2, "warm"), 3)
        .await
        .expect("enqueue");
    let lease = Duration::from_secs(30);
    for _ in 0..2 {
        let job = queue
            .claim("w", lease, &[warm])
            .await
            .expect("claim")
            .expect("job");
        assert_eq!(job.key, warm);
    }
    // None left for the warm key: the oldest job of any key.
    let job = queue
        .claim("w", lease, &[warm])
        .await
        .expect("claim")
        .expect("job");
    assert_eq!(job.key, cold);
    assert_eq!(
        queue.server_key(&warm).await.expect("key bytes"),
        b"warm key"
    );
}

#[tokio::test]
async fn retention_deletes_finished_jobs_and_unused_keys_but_nothing_pending() {
    let cluster = cluster();
    let queue = Queue::connect(&address(&cluster)).await.expect("connect");
    let key = queue.put_server_key(b"key").await.expect("key");
    let batch = jobs(key, 3, "retained");
    queue.enqueue(&batch, 3).await.expect("enqueue");
    let job = queue
        .claim("w", Duration::from_secs(30), &[])
        .await
        .expect("claim")
        .expect("job");
    queue
        .complete("w", &job, b"result")
        .await
        .expect("complete");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (jobs_deleted, keys_deleted) = queue
        .apply_retention(Duration::ZERO)
        .await
        .expect("retention");
    assert_eq!(
        (jobs_deleted, keys_deleted),
        (1, 0),
        "the key is still named by queued jobs"
    );
    let ids: Vec<JobId> = batch.iter().map(|j| j.id.clone()).collect();
    assert_eq!(queue.counts(Some(&ids)).await.expect("counts").queued, 2);
    assert_eq!(queue.missing(&ids).await.expect("missing"), vec![job.id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notify_wakes_an_idle_worker_long_before_its_poll_interval() {
    let cluster = cluster();
    let address = address(&cluster);
    let queue = Queue::connect(&address).await.expect("connect");
    let key = queue.put_server_key(b"key").await.expect("key");
    let engine = Arc::new(Reverser::default());
    let (stop_tx, stop) = watch::channel(false);
    let mut config = fast("sleepy");
    config.poll = Duration::from_secs(600);
    config.lease = Duration::from_secs(2400);
    let worker = tokio::spawn(run_worker(
        address.clone(),
        Arc::clone(&engine),
        config,
        stop,
    ));
    // Let it connect, find nothing and go idle.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let batch = jobs(key, 1, "wake");
    queue.enqueue(&batch, 3).await.expect("enqueue");
    // Far below the 150 s the worker would otherwise sleep (poll capped at lease / 4).
    wait_until_finished(&queue, &[batch[0].id.clone()], Duration::from_secs(30)).await;
    stop_tx.send(true).expect("stop");
    worker.await.expect("worker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_reconnect_and_finish_after_the_database_restarts() {
    let cluster = cluster();
    let address = address(&cluster);
    let queue = Queue::connect(&address).await.expect("connect");
    let key = queue.put_server_key(b"key").await.expect("key");
    let batch = jobs(key, 400, "restart");
    queue.enqueue(&batch, 3).await.expect("enqueue");
    let engine = Arc::new(Reverser {
        delay: Duration::from_millis(20),
        ..Reverser::default()
    });
    let (stop_tx, stop) = watch::channel(false);
    let workers = spawn_workers(&address, &engine, &["w1", "w2"], &stop);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ids: Vec<JobId> = batch.iter().map(|j| j.id.clone()).collect();
    let before = queue.counts(Some(&ids)).await.expect("counts");
    assert!(before.done > 0 && before.pending() > 100, "{before:?}");
    drop(queue);
    let restart = tokio::task::spawn_blocking(move || {
        cluster
            .restart(Duration::from_millis(500))
            .map(|()| cluster)
    });
    let cluster = restart.await.expect("join").expect("restart");
    let queue = Queue::connect(&address).await.expect("reconnect");
    wait_until_finished(&queue, &ids, Duration::from_secs(120)).await;
    stop_tx.send(true).expect("stop");
    let mut reconnects = 0;
    for w in workers {
        reconnects += w.await.expect("worker").reconnects.load(Ordering::Relaxed);
    }
    let counts = queue.counts(Some(&ids)).await.expect("counts");
    assert_eq!(counts.done, 400, "{counts:?}\n{}", cluster.log());
    assert!(reconnects > 0, "the workers never lost their connection");
}

/// Limits small enough to test with: requests of 64 bytes, keys of 16, results of 32.
fn small_limits() -> ReadLimits {
    ReadLimits {
        request: 64,
        result: 32,
        key: 16,
    }
}

/// Workers read requests and keys by a bound set in SQL: an oversize request or key is never
/// transferred, its job fails for good on its first attempt with a clear reason, and the
/// other jobs go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_fails_a_job_with_an_oversize_request_or_key_without_reading_it() {
    let cluster = cluster();
    let address = address(&cluster);
    let queue = Queue::connect(&address).await.expect("connect");
    let small = queue.put_server_key(b"small key").await.expect("key");
    let big = queue
        .put_server_key(b"a server key longer than sixteen bytes")
        .await
        .expect("key");
    let mut batch = jobs(small, 3, "fits");
    let oversize = NewJob {
        id: JobId::random().expect("id"),
        key: small,
        model: [7; 32],
        request: vec![b'r'; 65],
    };
    let big_key_job = jobs(big, 1, "big-key").remove(0);
    batch.push(oversize.clone());
    batch.push(big_key_job.clone());
    queue.enqueue(&batch, 3).await.expect("enqueue");
    let engine = Arc::new(Reverser::default());
    let (stop_tx, stop) = watch::channel(false);
    let mut config = fast("bounded");
    config.limits = small_limits();
    let worker = tokio::spawn(run_worker(
        address.clone(),
        Arc::clone(&engine),
        config,
        stop,
    ));
    let ids: Vec<JobId> = batch.iter().map(|j| j.id.clone()).collect();
    wait_until_finished(&queue, &ids, Duration::from_secs(60)).await;
    stop_tx.send(true).expect("stop");
    worker.await.expect("worker");
    let finished: HashMap<JobId, Outcome> = queue
        .finished(&ids)
        .await
        .expect("finished")
        .into_iter()
        .collect();
    for job in &batch[..3] {
        let expected: Vec<u8> = job.request.iter().rev().copied().collect();
        assert_eq!(
            finished[&job.id],
            Outcome::Done(expected),
            "the others go on"
        );
    }
    match &finished[&oversize.id] {
        Outcome::Failed(reason) => assert!(
            reason.contains("the request is 65 bytes, above the limit of 64: refused unread"),
            "{reason}"
        ),
        other => panic!("an oversize request was evaluated: {other:?}"),
    }
    match &finished[&big_key_job.id] {
        Outcome::Failed(reason) => assert!(
            reason.contains("the server key is 38 bytes, above the limit of 16: refused unread"),
            "{reason}"
        ),
        other => panic!("a job with an oversize key was evaluated: {other:?}"),
    }
    let evaluations = engine.evaluations.lock().expect("lock");
    assert!(!evaluations.contains_key(oversize.id.as_str()));
    assert!(!evaluations.contains_key(big_key_job.id.as_str()));
    assert!(
        !engine.keys.lock().expect("lock").contains(&big),
        "the big key was read"
    );
}

/// A client reads results by a bound set in SQL: an oversize result is reported with its
/// size, not transferred, and failure reasons are cut to their maximum length.
#[tokio::test]
async fn a_client_reads_an_oversize_result_as_its_size_only() {
    let cluster = cluster();
    let queue = Queue::connect(&address(&cluster))
        .await
        .expect("connect")
        .with_limits(small_limits());
    let key = queue.put_server_key(b"key").await.expect("key");
    let batch = jobs(key, 3, "results");
    queue.enqueue(&batch, 1).await.expect("enqueue");
    let lease = Duration::from_secs(30);
    for result in [vec![b'x'; 32], vec![b'y'; 33]] {
        let job = queue
            .claim("w", lease, &[])
            .await
            .expect("claim")
            .expect("job");
        queue.complete("w", &job, &result).await.expect("complete");
    }
    let job = queue
        .claim("w", lease, &[])
        .await
        .expect("claim")
        .expect("job");
    let long_reason = "z".repeat(5000);
    queue
        .fail("w", &job, &long_reason, None)
        .await
        .expect("fail");
    let ids: Vec<JobId> = batch.iter().map(|j| j.id.clone()).collect();
    let mut outcomes: Vec<Outcome> = queue
        .finished(&ids)
        .await
        .expect("finished")
        .into_iter()
        .map(|(_, o)| o)
        .collect();
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(
        outcomes,
        vec![
            Outcome::Done(vec![b'x'; 32]),
            Outcome::Failed("z".repeat(pulsecure_queue::MAX_FAILURE_CHARS as usize)),
            Outcome::ResultTooLarge {
                bytes: 33,
                limit: 32
            },
        ]
    );
}

#[tokio::test]
async fn migrations_run_once_and_a_newer_schema_is_refused() {
    let cluster = cluster();
    let address = address(&cluster);
    let (a, b) = tokio::join!(Queue::connect(&address), Queue::connect(&address));
    let a = a.expect("first");
    b.expect("second, concurrently");
    drop(a);
    let (client, connection) = tokio_postgres::connect(&cluster.url(), tokio_postgres::NoTls)
        .await
        .expect("raw client");
    tokio::spawn(connection);
    let versions = client
        .query("SELECT version FROM pulsecure_schema ORDER BY version", &[])
        .await
        .expect("versions");
    assert_eq!(versions.len() as i32, pulsecure_queue::SCHEMA_VERSION);
    client
        .execute("INSERT INTO pulsecure_schema (version) VALUES (99)", &[])
        .await
        .expect("pretend a newer build migrated the database");
    let e = Queue::connect(&address).await.expect_err("newer schema");
    assert!(e.to_string().contains("version 99"), "{e}");
}

fn self_signed_ca(name: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} CA"));
    rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().expect("key"))
        .expect("CA")
}

#[tokio::test]
async fn tls_verify_full_connects_only_to_a_server_certified_for_its_name() {
    let ca = self_signed_ca("queue test");
    let server_key = rcgen::KeyPair::generate().expect("server key");
    let server = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .expect("server params")
        .signed_by(&server_key, &ca)
        .expect("server cert");
    let cluster = ThrowawayCluster::start_with_tls(&ServerTls {
        cert_pem: server.pem(),
        key_pem: server_key.serialize_pem(),
    })
    .unwrap_or_else(|e| panic!("throwaway PostgreSQL with TLS: {e}"));
    let dir = tempfile::tempdir().expect("dir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("write ca");
    let url = cluster.tls_url("localhost", &ca_file).expect("tls url");
    let queue = Queue::connect(&QueueAddress::parse_with_password(&url, None).expect("address"))
        .await
        .expect("verify-full to localhost");
    queue.put_server_key(b"over TLS").await.expect("works");
    // The certificate does not name 127.0.0.1: verify-full refuses it.
    let by_ip = cluster.tls_url("127.0.0.1", &ca_file).expect("tls url");
    let e = Queue::connect(&QueueAddress::parse_with_password(&by_ip, None).expect("address"))
        .await
        .expect_err("wrong name");
    assert!(e.is_connection(), "{e}");
    // Another CA: refused.
    std::fs::write(&ca_file, self_signed_ca("another").pem()).expect("write");
    let e = Queue::connect(&QueueAddress::parse_with_password(&url, None).expect("address"))
        .await
        .expect_err("untrusted CA");
    assert!(e.is_connection(), "{e}");
}
