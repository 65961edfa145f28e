//! Population screening through the PostgreSQL job queue.
//!
//! Submitting a batch validates every row against the active model, encrypts each patient
//! here, records the job in the sealed local database *first* (job id → patient, values and
//! the encrypted request), and only then enqueues the ciphertext under that opaque id. The
//! queue never sees a reference, a value or a name. Collecting decrypts finished jobs, and
//! stores each screening and forgets its job in one local transaction before the job is
//! removed from the queue.
//!
//! Every step can be interrupted and repeated: a rerun of the same batch skips patients
//! already stored or already queued, re-enqueues jobs the queue does not hold (an enqueue
//! that never happened, or one removed by the retention rule), and collects the rest; a
//! collect that stopped after storing but before removing a job finds the job gone locally
//! and only removes it from the queue. Nothing is stored twice, nothing is lost.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pulsecure_batch::{BatchReader, IneligibleRow, InputRow, RowError};
use pulsecure_core::app::inference::Recorded;
use pulsecure_core::app::result_check::{checked_assessment, ResultRefused};
use pulsecure_core::domain::quantize::QuantizedInput;
use pulsecure_core::ports::clock::{Clock, SystemClock};
use pulsecure_core::ports::fhe::{FheClient, FheError};
use pulsecure_core::ports::store::{RecordStatus, ScreeningRecord, ScreeningStore};
use pulsecure_core::{Model, PatientFeatures, PatientRef, RiskAssessment};
use pulsecure_fhe::{key_id_of, model_fingerprint, TfheClient};
use pulsecure_queue::{Counts, JobId, NewJob, Outcome, Queue, QueueAddress, QueueError};
use pulsecure_store::QueuedJob;
use pulsecure_vault::Password;
use rayon::prelude::*;

use crate::data_dir::DataDir;
use crate::error::{AppError, Result};
use crate::records::Records;
use crate::result_refusal::record_refusal;
use crate::row_chunks::{file_items, ChunkRow, Items, RowChunks};
use crate::screening::{
    record_not_eligible, BatchResult, Ineligible, NotEligibleResult, PatientOutcome, RowStatus,
};

/// Attempts a job gets in the queue before it fails for good.
pub const MAX_ATTEMPTS: i32 = pulsecure_queue::DEFAULT_MAX_ATTEMPTS;

/// Patients encrypted and recorded per step (bounded memory, steady progress).
const CHUNK: usize = 64;

/// Finished jobs read from the queue per step when collecting: with each result read only
/// up to [`pulsecure_queue::MAX_RESULT_BYTES`] (256 KiB; an honest one is 66 KB), one step
/// holds at most 16 MiB of results, whatever anyone wrote into the queue.
const COLLECT_CHUNK: usize = 64;

/// How long a lost connection to the queue is retried before the command gives up (every
/// step is idempotent, so a later rerun resumes).
const RECONNECT_FOR: Duration = Duration::from_secs(120);

/// Receives what happens to a queued batch.
pub trait QueueSink {
    /// A row stored before (reported from the local database) or collected now.
    fn result(&mut self, result: BatchResult<'_>) -> std::io::Result<()>;
    /// A row outside the model's population: stored as such at once, never queued.
    fn not_eligible(&mut self, row: NotEligibleResult<'_>) -> std::io::Result<()>;
    /// A rejected row, or a job that failed in the queue (row, reason; never a value).
    fn rejected(&mut self, error: &RowError) -> std::io::Result<()>;
    /// Submitted jobs finished so far, of all submitted.
    fn waiting(&mut self, collected: u64, total: u64);
}

/// What submitting a batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Submission {
    /// Patients encrypted and enqueued now.
    pub queued: usize,
    /// Patients already waiting in the queue from an earlier run.
    pub already_queued: usize,
    /// Jobs recorded locally that the queue lacked, enqueued again.
    pub resubmitted: usize,
    /// Patients stored before (not submitted again).
    pub already_stored: usize,
    /// Patients outside the model's population: stored as such, nothing queued.
    pub not_eligible: usize,
    /// Rejected rows.
    pub rejected: usize,
}

/// What a collection did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Collection {
    /// Screenings decrypted and stored now.
    pub stored: usize,
    /// Jobs that failed in the queue (reported; rerun the batch to submit them again).
    pub failed: usize,
    /// Results refused by the client's check against the reference engine (reported and
    /// audited; rerun the batch to submit them again).
    pub refused: usize,
    /// Jobs still waiting.
    pub pending: usize,
}

/// The clinic's jobs: waiting locally, and their states in the queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobsStatus {
    /// Jobs recorded in the local database (not collected yet).
    pub local: usize,
    /// Their states in the queue (a job the queue lacks is in none).
    pub queue: Counts,
}

/// One call on the queue, as [`QueueStation::with_queue`] repeats it.
type QueueCall<'q, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = std::result::Result<T, QueueError>> + 'q>>;

/// An unlocked workstation that screens through the job queue.
pub struct QueueStation {
    records: Records,
    client: TfheClient,
    server_key: Arc<Vec<u8>>,
    /// Its SHA-256 once it is known to be stored in the queue.
    stored_key: Option<[u8; 32]>,
    address: QueueAddress,
    runtime: tokio::runtime::Runtime,
    queue: Option<Queue>,
}

impl QueueStation {
    /// Unlock `dir` and connect to the queue at `address` (schema migrated if needed).
    pub fn open(dir: &DataDir, password: &Password, address: QueueAddress) -> Result<Self> {
        let records = Records::open(dir, password)?;
        let server_key = records.unlocked.server_key_bytes(dir)?;
        let client = records
            .unlocked
            .client(records.model(), key_id_of(&server_key))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| AppError::Output(std::io::Error::other(e.to_string())))?;
        let mut station = QueueStation {
            records,
            client,
            server_key: Arc::new(server_key),
            stored_key: None,
            address,
            runtime,
            queue: None,
        };
        station.connected()?;
        Ok(station)
    }

    /// The records of this workstation.
    pub fn records(&self) -> &Records {
        &self.records
    }

    fn connected(&mut self) -> Result<&mut Queue> {
        if self.queue.as_ref().is_some_and(Queue::is_closed) {
            self.queue = None;
        }
        if self.queue.is_none() {
            let queue = self.runtime.block_on(async {
                let queue = Queue::connect(&self.address).await?;
                queue.listen(pulsecure_queue::DONE_CHANNEL).await?;
                Ok::<_, QueueError>(queue)
            })?;
            self.queue = Some(queue);
        }
        self.queue
            .as_mut()
            .ok_or_else(|| AppError::Queue(QueueError::Corrupt("no connection".into())))
    }

    /// Run `op` on the queue, reconnecting and repeating it while the database is
    /// unreachable, for up to [`RECONNECT_FOR`] (every operation is idempotent).
    fn with_queue<T>(&mut self, op: impl for<'q> Fn(&'q Queue) -> QueueCall<'q, T>) -> Result<T> {
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(200);
        loop {
            let outcome = match self.connected() {
                Ok(_) => {
                    let queue = self.queue.as_ref().ok_or_else(|| {
                        AppError::Queue(QueueError::Corrupt("no connection".into()))
                    })?;
                    self.runtime.block_on(op(queue)).map_err(AppError::Queue)
                }
                Err(e) => Err(e),
            };
            match outcome {
                Err(AppError::Queue(e))
                    if e.is_connection() && started.elapsed() < RECONNECT_FOR =>
                {
                    tracing::warn!("queue: {e}; reconnecting in {pause:?}");
                    self.queue = None;
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                other => return other,
            }
        }
    }

    /// Store this workstation's server key in the queue (once per session); its SHA-256.
    fn store_server_key(&mut self) -> Result<[u8; 32]> {
        if let Some(hash) = self.stored_key {
            return Ok(hash);
        }
        let bytes = Arc::clone(&self.server_key);
        let hash = self.with_queue(|q| {
            let bytes = Arc::clone(&bytes);
            Box::pin(async move { q.put_server_key(&bytes).await })
        })?;
        self.stored_key = Some(hash);
        Ok(hash)
    }

    /// The active model (the one batches are read against and screened with).
    pub fn model(&self) -> Arc<Model> {
        Arc::clone(self.records.model())
    }

    /// Submit the batch file at `path`: validate, encrypt, record locally, enqueue. Rejected
    /// rows and patients stored before go to `sink`.
    pub fn submit_batch(&mut self, path: &Path, sink: &mut dyn QueueSink) -> Result<Submission> {
        let model = self.model();
        let file = std::fs::File::open(path).map_err(|e| AppError::io("reading", path, e))?;
        let rows = file_items(BatchReader::from_reader(
            file,
            &model,
            path.display().to_string(),
        )?);
        self.submit_items(&model, rows, sink)
    }

    /// Submit a stream of batch items read against `model` (the active one): as
    /// [`QueueStation::submit_batch`].
    pub(crate) fn submit_items(
        &mut self,
        model: &Arc<Model>,
        items: Items<'_>,
        sink: &mut dyn QueueSink,
    ) -> Result<Submission> {
        let model = Arc::clone(model);
        let mut rows = RowChunks::new(items);
        let local = self.records.db.queued_jobs()?;
        let mut summary = Submission {
            resubmitted: self.resubmit_lost(&local)?,
            ..Submission::default()
        };
        let queued: HashSet<PatientRef> = local
            .into_iter()
            .filter(|j| j.model_id == model.id() && j.model_version == model.version())
            .map(|j| j.patient_ref)
            .collect();
        let key_hash = self.store_server_key()?;
        let fingerprint = model_fingerprint(&model);
        while let Some(read) = rows.next_chunk(CHUNK, &mut |e| {
            summary.rejected += 1;
            sink.rejected(e).map_err(AppError::Output)
        })? {
            let mut chunk = Vec::with_capacity(read.len());
            for row in read {
                // Waiting in the queue from an earlier run, whatever this file now says: its
                // result is collected as submitted (deciding anew would leave two answers).
                if queued.contains(row.patient_ref()) {
                    summary.already_queued += 1;
                    continue;
                }
                let row = match row {
                    ChunkRow::Screen(row) => row,
                    ChunkRow::NotEligible(row) => {
                        self.not_eligible(&model, &row, &mut summary, sink)?;
                        continue;
                    }
                };
                if let Some(stored) =
                    self.records
                        .db
                        .find(model.id(), model.version(), &row.patient_ref)?
                {
                    summary.already_stored += 1;
                    match stored.record.status {
                        RecordStatus::Screened => sink.result(BatchResult {
                            row: row.row,
                            patient_ref: &row.patient_ref,
                            status: RowStatus::AlreadyStored,
                            assessment: &stored.record.assessment,
                        }),
                        RecordStatus::NotEligible(reason) => sink.not_eligible(NotEligibleResult {
                            row: row.row,
                            patient_ref: &row.patient_ref,
                            decision: &Ineligible::stored(reason),
                            model_id: model.id(),
                            model_version: model.version(),
                        }),
                    }
                    .map_err(AppError::Output)?;
                } else {
                    chunk.push(row);
                }
            }
            if !chunk.is_empty() {
                summary.queued += self.enqueue_chunk(&model, &chunk, key_hash, fingerprint)?;
            }
        }
        tracing::info!(
            queued = summary.queued,
            already_queued = summary.already_queued,
            resubmitted = summary.resubmitted,
            already_stored = summary.already_stored,
            not_eligible = summary.not_eligible,
            rejected = summary.rejected,
            "batch submitted to the queue"
        );
        Ok(summary)
    }

    /// Store a not-eligible row's decision (or report what an earlier run stored).
    fn not_eligible(
        &self,
        model: &Model,
        row: &IneligibleRow,
        summary: &mut Submission,
        sink: &mut dyn QueueSink,
    ) -> Result<()> {
        let decision = match record_not_eligible(&self.records, model, &row.patient_ref, &row.why)?
        {
            PatientOutcome::NotEligible(decision) => decision,
            PatientOutcome::Recorded(recorded) => {
                // An earlier run stored a screening under this reference.
                let assessment = match &recorded {
                    Recorded::Stored(s) => &s.assessment,
                    Recorded::AlreadyStored(s) => &s.record.assessment,
                };
                summary.already_stored += 1;
                return sink
                    .result(BatchResult {
                        row: row.row,
                        patient_ref: &row.patient_ref,
                        status: RowStatus::AlreadyStored,
                        assessment,
                    })
                    .map_err(AppError::Output);
            }
        };
        match decision.status {
            RowStatus::Screened => summary.not_eligible += 1,
            RowStatus::AlreadyStored => summary.already_stored += 1,
        }
        sink.not_eligible(NotEligibleResult {
            row: row.row,
            patient_ref: &row.patient_ref,
            decision: &decision,
            model_id: model.id(),
            model_version: model.version(),
        })
        .map_err(AppError::Output)
    }

    /// Encrypt `rows`, record them locally, then enqueue them; returns how many.
    fn enqueue_chunk(
        &mut self,
        model: &Model,
        rows: &[InputRow],
        key: [u8; 32],
        fingerprint: [u8; 32],
    ) -> Result<usize> {
        let now = SystemClock.now_unix_seconds();
        let client = &self.client;
        let jobs: Vec<QueuedJob> = rows
            .par_iter()
            .map(|row| {
                let input = QuantizedInput::from_patient(model, &row.features);
                Ok(QueuedJob {
                    job_id: JobId::random()?.to_string(),
                    model_id: model.id().to_string(),
                    model_version: model.version(),
                    patient_ref: row.patient_ref.clone(),
                    row: row.row as u64,
                    created_at: now,
                    features: row.features.values().to_vec(),
                    request: client.encrypt(&input)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // Locally first: a job the queue has is always one the clinic can map back.
        self.records.db.add_queued_jobs(&jobs)?;
        self.enqueue_recorded(&jobs, key, fingerprint)?;
        Ok(jobs.len())
    }

    fn enqueue_recorded(
        &mut self,
        jobs: &[QueuedJob],
        key: [u8; 32],
        model: [u8; 32],
    ) -> Result<u64> {
        let new_jobs = jobs
            .iter()
            .map(|j| {
                Ok(NewJob {
                    id: JobId::parse(&j.job_id)?,
                    key,
                    model,
                    request: j.request.clone(),
                })
            })
            .collect::<std::result::Result<Vec<_>, QueueError>>()?;
        self.with_queue(|q| {
            let jobs = new_jobs.clone();
            Box::pin(async move { q.enqueue(&jobs, MAX_ATTEMPTS).await })
        })
    }

    /// Enqueue again every job of `local` (the locally recorded ones) the queue does not hold.
    fn resubmit_lost(&mut self, local: &[QueuedJob]) -> Result<usize> {
        if local.is_empty() {
            return Ok(0);
        }
        let ids = job_ids(local)?;
        let missing: HashSet<JobId> = self
            .with_queue(|q| {
                let ids = ids.clone();
                Box::pin(async move { q.missing(&ids).await })
            })?
            .into_iter()
            .collect();
        let lost: Vec<QueuedJob> = local
            .iter()
            .filter(|j| JobId::parse(&j.job_id).is_ok_and(|id| missing.contains(&id)))
            .cloned()
            .collect();
        if lost.is_empty() {
            return Ok(0);
        }
        let key = self.store_server_key()?;
        let mut resubmitted = 0;
        for model_jobs in group_by_model(&lost) {
            let model = self.model();
            if model_jobs[0].model_id != model.id()
                || model_jobs[0].model_version != model.version()
            {
                tracing::warn!(
                    jobs = model_jobs.len(),
                    "jobs for another model version wait until it is active again"
                );
                continue;
            }
            self.enqueue_recorded(&model_jobs, key, model_fingerprint(&model))?;
            resubmitted += model_jobs.len();
        }
        if resubmitted > 0 {
            tracing::warn!(resubmitted, "re-enqueued jobs the queue did not hold");
        }
        Ok(resubmitted)
    }

    /// The clinic's jobs and their states in the queue.
    pub fn status(&mut self) -> Result<JobsStatus> {
        let local = self.records.db.queued_jobs()?;
        let ids = job_ids(&local)?;
        let queue = self.with_queue(|q| {
            let ids = ids.clone();
            Box::pin(async move { q.counts(Some(&ids)).await })
        })?;
        Ok(JobsStatus {
            local: local.len(),
            queue,
        })
    }

    /// One pass: decrypt and store every finished job, report failed ones and refuse
    /// oversize results (never read), then remove them from the queue, [`COLLECT_CHUNK`]
    /// jobs at a time (memory stays bounded however many are finished and whatever their
    /// size in the database). Jobs the queue lost are enqueued again.
    pub fn collect(&mut self, sink: &mut dyn QueueSink) -> Result<Collection> {
        let model = self.model();
        let local = self.records.db.queued_jobs()?;
        self.resubmit_lost(&local)?;
        let mut collection = Collection::default();
        let mut finished_now: HashSet<String> = HashSet::new();
        for chunk in local.chunks(COLLECT_CHUNK) {
            let ids = job_ids(chunk)?;
            let finished = self.with_queue(|q| {
                let ids = ids.clone();
                Box::pin(async move { q.finished(&ids).await })
            })?;
            let by_id: HashMap<&str, &QueuedJob> =
                chunk.iter().map(|j| (j.job_id.as_str(), j)).collect();
            let mut done_ids = Vec::new();
            for (id, outcome) in &finished {
                let Some(job) = by_id.get(id.as_str()) else {
                    continue;
                };
                match outcome {
                    Outcome::Done(bytes) => {
                        if job.model_id != model.id() || job.model_version != model.version() {
                            // Decrypting needs the model it was encrypted for.
                            continue;
                        }
                        match self.checked(&model, job, bytes)? {
                            Ok(assessment) => {
                                let record = ScreeningRecord {
                                    patient_ref: job.patient_ref.clone(),
                                    created_at: SystemClock.now_unix_seconds(),
                                    features: job.features.clone(),
                                    assessment,
                                    status: pulsecure_core::ports::store::RecordStatus::Screened,
                                };
                                self.records
                                    .db
                                    .finish_queued_job(&job.job_id, Some(&record))?;
                                collection.stored += 1;
                                sink.result(BatchResult {
                                    row: job.row as usize,
                                    patient_ref: &job.patient_ref,
                                    status: RowStatus::Screened,
                                    assessment: &record.assessment,
                                })
                                .map_err(AppError::Output)?;
                            }
                            Err(refusal) => {
                                self.refuse_job(job, &model, &refusal, sink)?;
                                collection.refused += 1;
                            }
                        }
                    }
                    Outcome::Failed(reason) => {
                        self.fail_job(job, reason, sink)?;
                        collection.failed += 1;
                    }
                    Outcome::ResultTooLarge { bytes, limit } => {
                        // Larger than any result an evaluator writes: left unread in the
                        // queue's database, refused like any other unreadable result.
                        let refusal = ResultRefused::Unreadable(FheError::Malformed {
                            what: "result",
                            reason: format!(
                                "{bytes} bytes in the queue, above the limit of {limit}: refused unread"
                            ),
                        });
                        self.refuse_job(job, &model, &refusal, sink)?;
                        collection.refused += 1;
                    }
                }
                done_ids.push(id.clone());
            }
            if !done_ids.is_empty() {
                self.with_queue(|q| {
                    let ids = done_ids.clone();
                    Box::pin(async move { q.acknowledge(&ids).await })
                })?;
            }
            finished_now.extend(done_ids.iter().map(|id| id.as_str().to_string()));
        }
        // Jobs encrypted for another model version wait until it is active again; they do
        // not keep a waiting client waiting.
        let (active, other): (Vec<&QueuedJob>, Vec<&QueuedJob>) = local
            .iter()
            .filter(|j| !finished_now.contains(&j.job_id))
            .partition(|j| j.model_id == model.id() && j.model_version == model.version());
        if !other.is_empty() {
            tracing::warn!(
                jobs = other.len(),
                "jobs encrypted for another model version stay queued until it is active again"
            );
        }
        collection.pending = active.len();
        Ok(collection)
    }

    fn fail_job(&self, job: &QueuedJob, reason: &str, sink: &mut dyn QueueSink) -> Result<()> {
        self.drop_job(
            job,
            &format!(
                "the evaluation failed in the queue ({}); nothing was stored: run the batch again to resubmit",
                printable(reason)
            ),
            sink,
        )
    }

    /// Refuse a job's result: audited, nothing stored, and the local record goes, so a rerun
    /// of the batch encrypts and submits the patient again.
    fn refuse_job(
        &self,
        job: &QueuedJob,
        model: &Model,
        refusal: &ResultRefused,
        sink: &mut dyn QueueSink,
    ) -> Result<()> {
        record_refusal(&self.records.db, model.id(), model.version(), refusal)?;
        self.drop_job(
            job,
            &format!("{refusal}: run the batch again to resubmit"),
            sink,
        )
    }

    /// Forget a job locally (nothing stored) and report its row with `reason`.
    fn drop_job(&self, job: &QueuedJob, reason: &str, sink: &mut dyn QueueSink) -> Result<()> {
        self.records.db.finish_queued_job(&job.job_id, None)?;
        sink.rejected(&RowError {
            row: job.row as usize,
            patient_ref: Some(job.patient_ref.clone()),
            column: None,
            reason: reason.to_string(),
        })
        .map_err(AppError::Output)
    }

    /// Decrypt a finished job's result and check it against the reference engine on the
    /// job's own recorded values: the assessment to store, or why it is refused (a result
    /// swapped or replaced in the queue's database, or computed wrongly, never sticks).
    fn checked(
        &self,
        model: &Model,
        job: &QueuedJob,
        result: &[u8],
    ) -> Result<std::result::Result<RiskAssessment, ResultRefused>> {
        let patient = PatientFeatures::from_ordered(model.features(), &job.features)?;
        let input = QuantizedInput::from_patient(model, &patient);
        Ok(self
            .client
            .decrypt(result)
            .map_err(ResultRefused::Unreadable)
            .and_then(|decrypted| checked_assessment(model, &input, decrypted)))
    }

    /// Collect until no job of this workstation is pending, woken by the workers'
    /// notifications (polling every `poll` as the fallback).
    pub fn collect_until_done(
        &mut self,
        sink: &mut dyn QueueSink,
        poll: Duration,
    ) -> Result<Collection> {
        let total = self.records.db.queued_job_count()?;
        let mut all = Collection::default();
        loop {
            let pass = self.collect(sink)?;
            all.stored += pass.stored;
            all.failed += pass.failed;
            all.refused += pass.refused;
            all.pending = pass.pending;
            sink.waiting(total.saturating_sub(pass.pending as u64), total);
            if pass.pending == 0 {
                return Ok(all);
            }
            // Woken by a worker's NOTIFY, or after `poll`; a dropped connection returns at
            // once and the next pass reconnects.
            let runtime = &self.runtime;
            match self.queue.as_mut() {
                Some(queue) => {
                    runtime.block_on(queue.wait(poll));
                }
                None => std::thread::sleep(poll),
            }
        }
    }
}

/// A reason written by a worker (or whoever can write to the queue), made safe to print:
/// control characters (terminal escapes) replaced, length bounded.
fn printable(reason: &str) -> String {
    reason
        .chars()
        .take(300)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn job_ids(jobs: &[QueuedJob]) -> std::result::Result<Vec<JobId>, QueueError> {
    jobs.iter().map(|j| JobId::parse(&j.job_id)).collect()
}

fn group_by_model(jobs: &[QueuedJob]) -> Vec<Vec<QueuedJob>> {
    let mut groups: Vec<Vec<QueuedJob>> = Vec::new();
    for job in jobs {
        match groups
            .iter_mut()
            .find(|g| g[0].model_id == job.model_id && g[0].model_version == job.model_version)
        {
            Some(group) => group.push(job.clone()),
            None => groups.push(vec![job.clone()]),
        }
    }
    groups
}
