//! Three real `pulsecure-evaluator worker` processes on a throwaway PostgreSQL, with real
//! TFHE keys: one is `kill -9`'d while it holds a job, one is paused (SIGSTOP) past its
//! lease and resumed. Every job still completes exactly once, every result decrypts to the
//! reference engine's, the paused worker's late result is discarded, and a poisoned job
//! (not a ciphertext) fails with its reason after its attempts without blocking the rest.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_core::ports::fhe::FheClient;
use pulsecure_core::{Model, QuantizedInput, ReferenceEngine};
use pulsecure_fhe::{generate_keys, model_fingerprint, TfheClient};
use pulsecure_queue::cluster::ThrowawayCluster;
use pulsecure_queue::{JobId, NewJob, Outcome, Queue, QueueAddress};

const LEASE_SECONDS: u64 = 8;

struct Worker {
    name: &'static str,
    child: Child,
    log: std::path::PathBuf,
}

impl Worker {
    fn start(dir: &Path, url: &str, name: &'static str) -> Self {
        let log = dir.join(format!("{name}.log"));
        let child = support::worker_command(url, name, dir)
            .args(["--retry-seconds", "0", "--lease-seconds"])
            .arg(LEASE_SECONDS.to_string())
            .env("PULSECURE_LOG", "info")
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn a worker");
        Worker { name, child, log }
    }

    fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, signal).expect("signal");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The worker holding a running job right now, by lease owner.
async fn running_owner(client: &tokio_postgres::Client) -> Vec<String> {
    client
        .query(
            "SELECT lease_owner FROM pulsecure_jobs WHERE state = 'running'",
            &[],
        )
        .await
        .expect("query")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn wait_for_owner(client: &tokio_postgres::Client, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !running_owner(client).await.iter().any(|o| o == name) {
        assert!(Instant::now() < deadline, "{name} never held a job");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_and_paused_workers_lose_nothing_and_complete_every_job_once() {
    let cluster = ThrowawayCluster::start().unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
    let dir = tempfile::tempdir().expect("tmp");
    let model = Model::from_json(DEFAULT_MODEL_JSON).expect("model");
    let keys = generate_keys().expect("keygen");
    let client = TfheClient::new(&model, keys.client_key, keys.key_id).expect("client");
    let address = QueueAddress::parse_with_password(&cluster.url(), None).expect("address");
    let queue = Queue::connect(&address).await.expect("connect");
    let key = queue
        .put_server_key(&keys.server_key_bytes)
        .await
        .expect("key");

    let reference = ReferenceEngine::new(&model);
    let mut expected = HashMap::new();
    let mut jobs = Vec::new();
    for patient in support::varied_patients(&model, 12) {
        let id = JobId::random().expect("id");
        let request = client
            .encrypt(&QuantizedInput::from_patient(&model, &patient))
            .expect("encrypt");
        let r = reference.evaluate(&patient);
        expected.insert(id.clone(), (r.probability_code, r.high_risk));
        jobs.push(NewJob {
            id,
            key,
            model: model_fingerprint(&model),
            request,
        });
    }
    let poison = NewJob {
        id: JobId::random().expect("id"),
        key,
        model: model_fingerprint(&model),
        request: b"PSQ2 but not a ciphertext at all".to_vec(),
    };
    queue.enqueue(&jobs, 3).await.expect("enqueue");
    queue
        .enqueue(std::slice::from_ref(&poison), 3)
        .await
        .expect("enqueue poison");

    let (raw, connection) = tokio_postgres::connect(&cluster.url(), tokio_postgres::NoTls)
        .await
        .expect("raw client");
    tokio::spawn(connection);

    let url = cluster.url();
    let killed = Worker::start(dir.path(), &url, "killed");
    wait_for_owner(&raw, "killed").await;
    killed.signal(rustix::process::Signal::KILL);
    let paused = Worker::start(dir.path(), &url, "paused");
    let steady = Worker::start(dir.path(), &url, "steady");
    wait_for_owner(&raw, "paused").await;
    paused.signal(rustix::process::Signal::STOP);
    let paused_job: String = raw
        .query_one(
            "SELECT job_id FROM pulsecure_jobs WHERE state = 'running' AND lease_owner = 'paused'",
            &[],
        )
        .await
        .expect("the paused worker's job")
        .get(0);
    tokio::time::sleep(Duration::from_secs(LEASE_SECONDS + 3)).await;
    paused.signal(rustix::process::Signal::CONT);

    let mut ids: Vec<JobId> = jobs.iter().map(|j| j.id.clone()).collect();
    ids.push(poison.id.clone());
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let counts = queue.counts(Some(&ids)).await.expect("counts");
        if counts.pending() == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{counts:?}\nsteady: {}\npaused: {}",
            steady.log_text(),
            paused.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let the resumed worker try to finish its stale job.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let finished: HashMap<JobId, Outcome> = queue
        .finished(&ids)
        .await
        .expect("finished")
        .into_iter()
        .collect();
    for (id, (code, high)) in &expected {
        let Some(Outcome::Done(bytes)) = finished.get(id) else {
            panic!("job {id} did not complete: {:?}", finished.get(id));
        };
        let result = client.decrypt(bytes).expect("decrypt");
        assert_eq!((result.probability_code, result.high_risk), (*code, *high));
    }
    match finished.get(&poison.id) {
        // Its `PSQ2` magic is an older client's: the failure says what to upgrade.
        Some(Outcome::Failed(reason)) => assert!(
            reason.contains("malformed") && reason.contains("upgrade the client"),
            "{reason}"
        ),
        other => panic!("the poisoned job should have failed: {other:?}"),
    }
    let attempts: i32 = raw
        .query_one(
            "SELECT attempts FROM pulsecure_jobs WHERE job_id = $1",
            &[&poison.id.as_str()],
        )
        .await
        .expect("attempts")
        .get(0);
    assert_eq!(attempts, 3);

    // Exactly once: every job's completion is logged by one worker, once.
    let logs: Vec<(&str, String)> = [&killed, &paused, &steady]
        .iter()
        .map(|w| (w.name, w.log_text()))
        .collect();
    for id in expected.keys() {
        let completions: usize = logs
            .iter()
            .map(|(_, log)| {
                log.lines()
                    .filter(|l| l.contains("job completed") && l.contains(id.as_str()))
                    .count()
            })
            .sum();
        assert_eq!(completions, 1, "job {id} completed {completions} times");
    }
    // The paused worker's claim expired and the job was leased again (possibly to the
    // same worker once resumed): its first, stale result was discarded.
    let paused_attempts: i32 = raw
        .query_one(
            "SELECT attempts FROM pulsecure_jobs WHERE job_id = $1",
            &[&paused_job],
        )
        .await
        .expect("attempts")
        .get(0);
    assert!(paused_attempts >= 2, "the paused job was never taken back");
    assert!(
        logs[1].1.contains("lease lost"),
        "the paused worker did not notice its lost lease:\n{}",
        logs[1].1
    );
    // Nothing patient-related or secret in the workers' logs: ids, counts, reasons only.
    for (_, log) in &logs {
        assert!(!log.contains("PSQ2 but not"), "request bytes in a log");
    }
}
