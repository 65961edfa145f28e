//! A queue worker: `concurrency` slots, each with its own connection, claiming jobs, keeping
//! their leases alive while the engine evaluates, and finishing them; idle slots sleep until
//! a NOTIFY or the poll interval. A lost database connection is re-made with back-off and
//! the slot goes on; a finished result whose write failed is retried until its lease ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::address::QueueAddress;
use crate::error::QueueError;
use crate::job::{ClaimedJob, KeyHash};
use crate::lease::LeaseOutcome;
use crate::limits::ReadLimits;
use crate::queue::{Queue, JOBS_CHANNEL};

/// What evaluates a job. Methods other than [`JobEngine::warm_keys`] may block for long:
/// the worker calls them on blocking threads.
pub trait JobEngine: Send + Sync + 'static {
    /// Keys whose evaluator is ready in memory: jobs for them are claimed first.
    fn warm_keys(&self) -> Vec<KeyHash>;
    /// Whether the key `hash` is held locally (no download needed).
    fn has_key(&self, hash: &KeyHash) -> bool;
    /// Check and keep a key downloaded from the queue.
    fn add_key(&self, hash: &KeyHash, bytes: Vec<u8>) -> Result<(), String>;
    /// Evaluate one job: the encrypted result, or why it cannot be evaluated.
    fn evaluate(&self, job: &ClaimedJob) -> Result<Vec<u8>, String>;
}

/// How a worker behaves.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// This worker's id in leases (host name, process id and a random suffix by default).
    pub id: String,
    /// Jobs evaluated at once.
    pub concurrency: usize,
    /// How long a claim holds without renewal; renewed every third of it while evaluating.
    pub lease: Duration,
    /// An idle slot looks for work at least this often (NOTIFY usually wakes it first).
    pub poll: Duration,
    /// A failed attempt waits this long before it can be claimed again.
    pub retry_backoff: Duration,
    /// Finished jobs not collected within this are deleted (the retention rule).
    pub retention: Duration,
    /// Whether the worker's commits wait for the WAL flush (PostgreSQL's default). Off by
    /// default: every worker write can be lost in a database crash without harm — a claim
    /// or a renewal lost leaves the job to be claimed again, a completion lost leaves it
    /// to be evaluated again, and a client that stored a result which the crash then undid
    /// has forgotten that job and never stores it twice. It saves one WAL flush per write
    /// (measured by the `queue_overhead` bench). Enqueueing (the clinic's side) stays
    /// synchronous.
    pub synchronous_commit: bool,
    /// The largest request and server key the worker reads (a larger one is never
    /// transferred: its job fails for good).
    pub limits: ReadLimits,
}

impl WorkerConfig {
    /// Defaults for worker `id`: one job at once, 60 s leases, 5 s polling, 10 s back-off,
    /// 7 days' retention, asynchronous commits, reads bounded by the known maxima.
    pub fn new(id: impl Into<String>) -> Self {
        WorkerConfig {
            id: id.into(),
            concurrency: 1,
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(5),
            retry_backoff: Duration::from_secs(10),
            retention: Duration::from_secs(7 * 24 * 3600),
            synchronous_commit: false,
            limits: ReadLimits::default(),
        }
    }
}

/// What a worker did (for its exit log and benchmarks).
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Jobs completed by this worker.
    pub completed: AtomicU64,
    /// Attempts that failed (the job retried or failed for good).
    pub failed_attempts: AtomicU64,
    /// Results discarded because the lease had been taken over.
    pub leases_lost: AtomicU64,
    /// Connections re-made after a loss.
    pub reconnects: AtomicU64,
}

/// Run a worker until `shutdown` turns true; jobs in progress are finished first.
pub async fn run_worker<E: JobEngine>(
    address: QueueAddress,
    engine: Arc<E>,
    config: WorkerConfig,
    shutdown: watch::Receiver<bool>,
) -> Arc<WorkerStats> {
    let stats = Arc::new(WorkerStats::default());
    let mut slots = Vec::new();
    for slot in 0..config.concurrency.max(1) {
        let slot = Slot {
            address: address.clone(),
            engine: Arc::clone(&engine),
            config: config.clone(),
            stats: Arc::clone(&stats),
            shutdown: shutdown.clone(),
            queue: None,
            connected_before: false,
            housekeeping: Instant::now() - config.lease,
            retention: Instant::now() - Duration::from_secs(3600),
            number: slot,
        };
        slots.push(tokio::spawn(slot.run()));
    }
    for slot in slots {
        if let Err(e) = slot.await {
            tracing::error!("a worker slot ended abnormally: {e}");
        }
    }
    stats
}

struct Slot<E> {
    address: QueueAddress,
    engine: Arc<E>,
    config: WorkerConfig,
    stats: Arc<WorkerStats>,
    shutdown: watch::Receiver<bool>,
    queue: Option<Queue>,
    connected_before: bool,
    housekeeping: Instant,
    retention: Instant,
    number: usize,
}

const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Why a job's attempt failed, and whether another attempt could do better.
enum Failure {
    /// Put the job back for another attempt (until its attempts are used up).
    Retry(String),
    /// Fail the job for good now (its request or key is larger than any honest one).
    Final(String),
}

impl<E: JobEngine> Slot<E> {
    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// The connection, made (with LISTEN) if there is none.
    async fn connected(&mut self) -> Result<&mut Queue, QueueError> {
        if self.queue.as_ref().is_some_and(Queue::is_closed) {
            self.queue = None;
        }
        if self.queue.is_none() {
            let queue = Queue::connect(&self.address)
                .await?
                .with_limits(self.config.limits);
            queue.listen(JOBS_CHANNEL).await?;
            if !self.config.synchronous_commit {
                queue.asynchronous_commits().await?;
            }
            if self.connected_before {
                self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                tracing::info!(slot = self.number, "worker reconnected to the queue");
            } else {
                tracing::info!(slot = self.number, "worker connected to the queue");
            }
            self.connected_before = true;
            self.queue = Some(queue);
        }
        self.queue
            .as_mut()
            .ok_or_else(|| QueueError::Corrupt("no connection".into()))
    }

    async fn run(mut self) {
        let mut backoff = Duration::from_millis(100);
        while !self.stopping() {
            match self.step().await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    if e.is_connection() {
                        self.queue = None;
                    }
                    tracing::warn!(slot = self.number, "queue: {e}; retrying in {backoff:?}");
                    self.sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn sleep(&mut self, pause: Duration) {
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => {}
        }
    }

    /// Housekeeping when due, then one job or one idle wait.
    async fn step(&mut self) -> Result<(), QueueError> {
        let lease = self.config.lease;
        let retention = self.config.retention;
        let now = Instant::now();
        let expire_due = now.duration_since(self.housekeeping) >= lease / 4;
        let retention_due = now.duration_since(self.retention) >= Duration::from_secs(3600);
        let queue = self.connected().await?;
        if expire_due {
            let expired = queue.expire_leases().await?;
            if expired.requeued + expired.failed > 0 {
                tracing::warn!(
                    requeued = expired.requeued,
                    failed = expired.failed,
                    "took back jobs whose lease expired"
                );
            }
        }
        if retention_due {
            let (jobs, keys) = queue.apply_retention(retention).await?;
            if jobs + keys > 0 {
                tracing::info!(
                    jobs,
                    keys,
                    "retention: deleted uncollected finished jobs and unused keys"
                );
            }
        }
        if expire_due {
            self.housekeeping = now;
        }
        if retention_due {
            self.retention = now;
        }
        let warm = self.engine.warm_keys();
        let id = self.config.id.clone();
        let queue = self.connected().await?;
        match queue.claim(&id, lease, &warm).await? {
            Some(job) => self.process(job).await,
            None => {
                let poll = self.config.poll.min(lease / 4);
                let mut shutdown = self.shutdown.clone();
                let queue = self.connected().await?;
                tokio::select! {
                    _ = queue.wait(poll) => {}
                    _ = shutdown.changed() => {}
                }
                Ok(())
            }
        }
    }

    /// Evaluate a claimed job under its lease and record the outcome.
    async fn process(&mut self, job: ClaimedJob) -> Result<(), QueueError> {
        let claimed = Instant::now();
        tracing::debug!(job = %job.id, attempt = job.attempt, "claimed");
        if let Some(bytes) = job.request_too_large {
            // Never read: no attempt can do better, so the job fails for good now.
            let limit = self.connected().await?.limits().request;
            let reason = QueueError::TooLarge {
                what: "request",
                bytes,
                limit,
            }
            .to_string();
            return self
                .record_until_lease_ends(&job, claimed, &Err(Failure::Final(reason)))
                .await;
        }
        let outcome = match self.ensure_key(&job).await? {
            Err(failure) => Err(failure),
            Ok(false) => self.evaluate_renewing(&job).await?.map_err(Failure::Retry),
            Ok(true) => {
                // Downloading and checking a key is not covered by renewals: renew now,
                // and leave the job if it was taken over meanwhile.
                let id = self.config.id.clone();
                let lease = self.config.lease;
                if self.connected().await?.renew(&id, &job, lease).await? == LeaseOutcome::Lost {
                    self.stats.leases_lost.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(job = %job.id, "lease lost while fetching the server key: job left to its new owner");
                    return Ok(());
                }
                self.evaluate_renewing(&job).await?.map_err(Failure::Retry)
            }
        };
        self.record_until_lease_ends(&job, claimed, &outcome).await
    }

    /// Write the outcome, even past a lost connection, until the lease claimed at `claimed`
    /// would have ended; after that another worker owns the job.
    async fn record_until_lease_ends(
        &mut self,
        job: &ClaimedJob,
        claimed: Instant,
        outcome: &Result<Vec<u8>, Failure>,
    ) -> Result<(), QueueError> {
        let deadline = claimed + self.config.lease;
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.record(job, outcome).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_connection() && Instant::now() < deadline => {
                    self.queue = None;
                    tracing::warn!(job = %job.id, "queue: {e}; retrying the write");
                    self.sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn record(
        &mut self,
        job: &ClaimedJob,
        outcome: &Result<Vec<u8>, Failure>,
    ) -> Result<(), QueueError> {
        let id = self.config.id.clone();
        let backoff = self.config.retry_backoff;
        let stats = Arc::clone(&self.stats);
        let queue = self.connected().await?;
        match outcome {
            Ok(result) => match queue.complete(&id, job, result).await? {
                LeaseOutcome::Written => {
                    stats.completed.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(job = %job.id, attempt = job.attempt, "job completed");
                }
                LeaseOutcome::Lost => {
                    stats.leases_lost.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(job = %job.id, attempt = job.attempt, "lease lost (expired and taken over): result discarded");
                }
            },
            Err(failure) => {
                stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
                let (reason, retry) = match failure {
                    Failure::Retry(reason) => (reason, Some(backoff)),
                    Failure::Final(reason) => (reason, None),
                };
                match queue.fail(&id, job, reason, retry).await? {
                    Some(true) => {
                        tracing::warn!(job = %job.id, attempt = job.attempt, "job failed for good: {reason}")
                    }
                    Some(false) => {
                        tracing::warn!(job = %job.id, attempt = job.attempt, "attempt failed, job put back: {reason}")
                    }
                    None => {
                        stats.leases_lost.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(job = %job.id, "lease lost while recording a failure")
                    }
                }
            }
        }
        Ok(())
    }

    /// Download and check the job's key if the engine lacks it: whether it was downloaded,
    /// `Err(failure)` when the key is refused (the job's failure; for good when the key is
    /// larger than the limit, and then it was not read), a queue error when the download
    /// failed.
    async fn ensure_key(&mut self, job: &ClaimedJob) -> Result<Result<bool, Failure>, QueueError> {
        if self.engine.has_key(&job.key) {
            return Ok(Ok(false));
        }
        let queue = self.connected().await?;
        let bytes = match queue.server_key(&job.key).await {
            Ok(bytes) => bytes,
            Err(QueueError::Corrupt(reason)) => return Ok(Err(Failure::Retry(reason))),
            Err(e @ QueueError::TooLarge { .. }) => return Ok(Err(Failure::Final(e.to_string()))),
            Err(e) => return Err(e),
        };
        let engine = Arc::clone(&self.engine);
        let hash = job.key;
        let added = tokio::task::spawn_blocking(move || engine.add_key(&hash, bytes))
            .await
            .unwrap_or_else(|_| Err("checking the server key panicked".into()));
        Ok(added.map(|()| true).map_err(Failure::Retry))
    }

    /// Run the engine on a blocking thread, renewing the lease every third of it.
    async fn evaluate_renewing(
        &mut self,
        job: &ClaimedJob,
    ) -> Result<Result<Vec<u8>, String>, QueueError> {
        let engine = Arc::clone(&self.engine);
        let owned = job.clone();
        let mut running = tokio::task::spawn_blocking(move || engine.evaluate(&owned));
        let lease = self.config.lease;
        let mut renew = tokio::time::interval(lease / 3);
        renew.tick().await;
        let id = self.config.id.clone();
        loop {
            tokio::select! {
                done = &mut running => {
                    return Ok(done.unwrap_or_else(|_| Err("the evaluation panicked".into())));
                }
                _ = renew.tick() => {
                    // A renewal that fails is not fatal: the completion decides.
                    match self.connected().await {
                        Ok(queue) => match queue.renew(&id, job, lease).await {
                            Ok(LeaseOutcome::Written) => {}
                            Ok(LeaseOutcome::Lost) => tracing::warn!(job = %job.id, "lease lost while evaluating"),
                            Err(e) => {
                                if e.is_connection() {
                                    self.queue = None;
                                }
                                tracing::warn!(job = %job.id, "renewing the lease: {e}");
                            }
                        },
                        Err(e) => tracing::warn!(job = %job.id, "renewing the lease: {e}"),
                    }
                }
            }
        }
    }
}
