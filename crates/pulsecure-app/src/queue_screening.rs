//! Population screening through the PostgreSQL job queue: the station (connection, key,
//! resubmission, collection) shared by every model. Submission is per kind of model
//! (`queue_logistic` for cvd-lr, `queue_equation` for the published equations); both
//! encrypt with the client side's prepare half and collection checks every result with its
//! finish half, the same two halves a direct screening runs ([`ClientSide`]).
//!
//! Submitting a batch validates every row against the selected model(s), encrypts each
//! patient here, records the job in the sealed local database *first* (job id → patient, values and
//! the encrypted request), and only then enqueues the ciphertext under that opaque id. The
//! queue never sees a reference, a value or a name. Collecting decrypts finished jobs, and
//! stores each screening and forgets its job in one local transaction before the job is
//! removed from the queue.
//!
//! Every step can be interrupted and repeated: a rerun of the same batch skips patients
//! already stored or already queued, re-enqueues jobs the queue does not hold (an enqueue
//! that never happened, or one removed by the retention rule), and collects the rest. A
//! collect that stopped after storing but before removing a job leaves it in the queue,
//! where nobody collects it again (it is gone locally) and the retention rule deletes it.
//! Nothing is stored twice, nothing is lost.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use pulsecure_batch_input::RowError;
use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::ports::clock::{Clock, SystemClock};
use pulsecure_core::ports::fhe::FheError;
use pulsecure_core::ports::store::{RecordStatus, ScreeningRecord};
use pulsecure_core::usecase::client_side::{ClientSide, EquationSide, LogisticSide, StoredFinish};
use pulsecure_core::usecase::inference::StageTimings;
use pulsecure_core::usecase::result_check::ResultRefused;
use pulsecure_core::{Model, ModelRef, PatientRef, RiskAssessment};
use pulsecure_fhe::{
    equation_fingerprint, model_fingerprint, EquationClient, ServerKeyId, TfheClient,
};
use pulsecure_queue::{Counts, JobId, NewJob, Outcome, Queue, QueueAddress, QueueError};
use pulsecure_store::QueuedJob;
use pulsecure_vault::Password;
use rayon::prelude::*;

use crate::data_dir::DataDir;
use crate::equation_screening::{screened, EquationRowResult};
use crate::error::{AppError, Result};
use crate::records::Records;
use crate::result_refusal::record_refusal;
use crate::screening::{BatchResult, NotEligibleResult, RowStatus};

/// Attempts a job gets in the queue before it fails for good.
pub const MAX_ATTEMPTS: i32 = pulsecure_queue::DEFAULT_MAX_ATTEMPTS;

/// Patients encrypted and recorded per step (bounded memory, steady progress).
pub(crate) const CHUNK: usize = 64;

/// Finished jobs read from the queue per step when collecting: with each result read only
/// up to [`pulsecure_queue::MAX_RESULT_BYTES`] (256 KiB; an honest one is 1 437 B), one step
/// holds at most 16 MiB of results, whatever anyone wrote into the queue.
const COLLECT_CHUNK: usize = 64;

/// How long a lost connection to the queue is retried before the command gives up (every
/// step is idempotent, so a later rerun resumes).
const RECONNECT_FOR: Duration = Duration::from_secs(120);

/// Receives what happens to a queued batch.
pub trait QueueSink {
    /// A cvd-lr row stored before (reported from the local database) or collected now.
    fn result(&mut self, result: BatchResult<'_>) -> std::io::Result<()>;
    /// A published-equation row's outcome for one model: stored before, decided not
    /// eligible at submission (never queued), or collected now.
    fn equation_result(&mut self, result: EquationRowResult<'_>) -> std::io::Result<()>;
    /// A cvd-lr row outside the model's population: stored as such at once, never queued.
    fn not_eligible(&mut self, row: NotEligibleResult<'_>) -> std::io::Result<()>;
    /// A rejected row, or a job that failed in the queue (row, reason; never a value).
    fn rejected(&mut self, error: &RowError) -> std::io::Result<()>;
    /// Submitted jobs finished so far, of all submitted.
    fn waiting(&mut self, collected: u64, total: u64);
    /// Before submission reads the first row: the input's size in the units
    /// [`QueueSink::progress`] reports (bytes of a file; for FHIR, bytes read and then
    /// patients).
    fn start(&mut self, _total: u64) {}
    /// During submission: how far into the input it is.
    fn progress(&mut self, _position: u64) {}
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

impl Submission {
    /// Write the counts to the operational log (counts only).
    pub(crate) fn log(&self) {
        tracing::info!(
            queued = self.queued,
            already_queued = self.already_queued,
            resubmitted = self.resubmitted,
            already_stored = self.already_stored,
            not_eligible = self.not_eligible,
            rejected = self.rejected,
            "batch submitted to the queue"
        );
    }
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
    /// Jobs of the selected models still waiting.
    pub pending: usize,
    /// Jobs of other models (or other releases) waiting for a run that selects them.
    pub other_models: usize,
}

/// The clinic's jobs: waiting locally, and their states in the queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobsStatus {
    /// Jobs recorded in the local database (not collected yet).
    pub local: usize,
    /// Their states in the queue (a job the queue lacks is in none).
    pub queue: Counts,
}

/// An input's size and a reader of how far into it submission is (see
/// [`QueueSink::start`]).
pub(crate) type InputProgress<'p> = (u64, &'p dyn Fn() -> u64);

/// Jobs waiting from an earlier run: (model release, patient).
pub(crate) type Waiting = HashSet<(ModelRef, PatientRef)>;

/// One call on the queue, as [`QueueStation::with_queue`] repeats it.
type QueueCall<'q, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = std::result::Result<T, QueueError>> + 'q>>;

/// A published equation selected for this station, with its client keys.
pub(crate) struct EquationTarget {
    pub(crate) model: Arc<EquationModel>,
    pub(crate) client: EquationClient,
}

/// The client side a finished job is checked with: one of the station's selected models.
enum Collector<'s> {
    Logistic(LogisticSide<'s>),
    Equation(EquationSide<'s>),
}

impl Collector<'_> {
    fn side(&self) -> &dyn StoredFinish {
        match self {
            Collector::Logistic(side) => side,
            Collector::Equation(side) => side,
        }
    }

    /// Report a job's checked result to `sink`.
    fn report(
        &self,
        sink: &mut dyn QueueSink,
        job: &QueuedJob,
        assessment: &RiskAssessment,
    ) -> std::io::Result<()> {
        match self {
            Collector::Logistic(_) => sink.result(BatchResult {
                row: job.row as usize,
                patient_ref: &job.patient_ref,
                status: RowStatus::Screened,
                assessment,
            }),
            Collector::Equation(side) => {
                let model = side.model();
                let outcome = screened(model, assessment.clone(), RowStatus::Screened);
                sink.equation_result(EquationRowResult {
                    row: job.row as usize,
                    patient_ref: &job.patient_ref,
                    model_id: model.id(),
                    model_version: model.version(),
                    outcome: &outcome,
                })
            }
        }
    }
}

/// An unlocked workstation that screens through the job queue: by default with the active
/// cvd-lr model; [`QueueStation::select_equations`] selects published equations instead.
/// Submission, resubmission and collection concern the selected models only; jobs of other
/// models wait in the queue until a station selecting them collects.
pub struct QueueStation {
    records: Records,
    client: TfheClient,
    /// Whether the active cvd-lr model is selected.
    logistic: bool,
    /// The selected published equations.
    pub(crate) equations: Vec<EquationTarget>,
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
            .client(records.model(), ServerKeyId::of_key(&server_key))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| AppError::Output(std::io::Error::other(e.to_string())))?;
        let mut station = QueueStation {
            records,
            client,
            logistic: true,
            equations: Vec::new(),
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

    /// The active cvd-lr model.
    pub fn model(&self) -> Arc<Model> {
        Arc::clone(self.records.model())
    }

    /// Select the published equations `models` (active releases, see
    /// [`crate::equation_screening::active_equation_model`]) instead of cvd-lr: their
    /// client keys are made here (the same secret key, bound to each model).
    pub fn select_equations(&mut self, models: &[Arc<EquationModel>]) -> Result<()> {
        let key_id = self.records.unlocked.server_key_id()?;
        self.equations = models
            .iter()
            .map(|model| {
                Ok(EquationTarget {
                    model: Arc::clone(model),
                    client: self.records.unlocked.equation_client(model, key_id)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.logistic = false;
        Ok(())
    }

    /// The fingerprint the queue names a selected model by (`None`: not selected here).
    fn fingerprint_of(&self, release: &ModelRef) -> Option<[u8; 32]> {
        let model = self.records.model();
        if self.logistic && model.model_ref() == *release {
            return Some(model_fingerprint(model));
        }
        self.equations
            .iter()
            .find(|t| t.model.model_ref() == *release)
            .map(|t| equation_fingerprint(&t.model))
    }

    /// The client side that checks `job`'s result, if its model is selected here.
    fn collector(&self, job: &QueuedJob) -> Option<Collector<'_>> {
        let release = job.model_ref();
        let model = self.records.model();
        if self.logistic && model.model_ref() == release {
            return Some(Collector::Logistic(LogisticSide::new(model, &self.client)));
        }
        self.equations
            .iter()
            .find(|t| t.model.model_ref() == release)
            .map(|t| Collector::Equation(EquationSide::new(&t.model, &t.client)))
    }

    /// The cvd-lr client side (for the submission module).
    pub(crate) fn logistic_side<'s>(&'s self, model: &'s Model) -> LogisticSide<'s> {
        LogisticSide::new(model, &self.client)
    }

    /// Record `jobs` in the local database, then enqueue them under the model named by
    /// `fingerprint`; returns how many. Locally first: a job the queue has is always one
    /// the clinic can map back.
    pub(crate) fn record_and_enqueue(
        &mut self,
        jobs: &[QueuedJob],
        fingerprint: [u8; 32],
    ) -> Result<usize> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let key = self.store_server_key()?;
        self.records.db.add_queued_jobs(jobs)?;
        self.enqueue_recorded(jobs, key, fingerprint)?;
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

    /// The patient references of the selected models' jobs waiting from an earlier run,
    /// per model (id, version); lost ones are enqueued again first.
    pub(crate) fn waiting_jobs(&mut self) -> Result<(usize, Waiting)> {
        let local = self.records.db.queued_jobs()?;
        let resubmitted = self.resubmit_lost(&local)?;
        let waiting = local
            .into_iter()
            .map(|j| (j.model_ref(), j.patient_ref))
            .collect();
        Ok((resubmitted, waiting))
    }

    /// Enqueue again every job of `local` (the locally recorded ones) the queue does not
    /// hold, for the models selected here.
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
        let mut resubmitted = 0;
        for model_jobs in group_by_model(&lost) {
            let Some(fingerprint) = self.fingerprint_of(&model_jobs[0].model_ref()) else {
                tracing::warn!(
                    jobs = model_jobs.len(),
                    "lost jobs of a model not selected here wait until a run selects it"
                );
                continue;
            };
            let key = self.store_server_key()?;
            self.enqueue_recorded(&model_jobs, key, fingerprint)?;
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

    /// One pass: decrypt and check every finished job of the selected models with its
    /// model's client side, store it, report failed ones and refuse oversize results (never
    /// read), then remove them from the queue, [`COLLECT_CHUNK`] jobs at a time (memory stays
    /// bounded however many are finished and whatever their size in the database). Jobs the
    /// queue lost are enqueued again.
    pub fn collect(&mut self, sink: &mut dyn QueueSink) -> Result<Collection> {
        let local = self.records.db.queued_jobs()?;
        self.resubmit_lost(&local)?;
        // Only the selected models' jobs are asked about: another model's results are not
        // downloaded on every pass only to be left.
        let (selected, other): (Vec<QueuedJob>, Vec<QueuedJob>) =
            local.into_iter().partition(|j| self.collector(j).is_some());
        let mut collection = Collection {
            other_models: other.len(),
            ..Collection::default()
        };
        let mut finished_now: HashSet<String> = HashSet::new();
        for chunk in selected.chunks(COLLECT_CHUNK) {
            let ids = job_ids(chunk)?;
            let finished = self.with_queue(|q| {
                let ids = ids.clone();
                Box::pin(async move { q.finished(&ids).await })
            })?;
            let done_ids = self.finish_jobs(chunk, &finished, &mut collection, sink)?;
            if !done_ids.is_empty() {
                self.with_queue(|q| {
                    let ids = done_ids.clone();
                    Box::pin(async move { q.acknowledge(&ids).await })
                })?;
            }
            finished_now.extend(done_ids.iter().map(|id| id.as_str().to_string()));
        }
        // Jobs of models not selected here wait until a run selects them; they do not keep
        // a waiting client waiting.
        if !other.is_empty() {
            tracing::warn!(
                jobs = other.len(),
                "jobs of other models (or releases) stay queued until a run selecting them collects"
            );
        }
        collection.pending = selected
            .iter()
            .filter(|j| !finished_now.contains(&j.job_id))
            .count();
        Ok(collection)
    }

    /// Store or refuse each finished job of `chunk` whose model is selected here; the ids
    /// to remove from the queue.
    fn finish_jobs(
        &self,
        chunk: &[QueuedJob],
        finished: &[(JobId, Outcome)],
        collection: &mut Collection,
        sink: &mut dyn QueueSink,
    ) -> Result<Vec<JobId>> {
        let by_id: HashMap<&str, &QueuedJob> =
            chunk.iter().map(|j| (j.job_id.as_str(), j)).collect();
        let mut done_ids = Vec::new();
        for (id, outcome) in finished {
            let Some(job) = by_id.get(id.as_str()) else {
                continue;
            };
            // Decrypting needs the model it was encrypted for.
            let Some(collector) = self.collector(job) else {
                continue;
            };
            let side = collector.side();
            match outcome {
                Outcome::Done(bytes) if pulsecure_fhe::wire::is_retired_response(bytes) => {
                    // Evaluated before the upgrade by an older evaluator: never decrypted
                    // (no answer to learn from), so not a mismatch either — like a failure.
                    self.drop_job(
                        job,
                        "the result is in the format of an evaluator older than this client \
                         (evaluated before the upgrade to compressed results); nothing was \
                         stored: run the batch again to resubmit",
                        sink,
                    )?;
                    collection.failed += 1;
                }
                Outcome::Done(bytes) => {
                    match side.finish_stored(&job.features, &job.request, bytes) {
                        Ok(Ok(assessment)) => {
                            let record = ScreeningRecord {
                                patient_ref: job.patient_ref.clone(),
                                created_at: SystemClock.now_unix_seconds(),
                                features: job.features.clone(),
                                assessment,
                                status: RecordStatus::Screened,
                            };
                            self.records
                                .db
                                .finish_queued_job(&job.job_id, Some(&record))?;
                            collection.stored += 1;
                            collector
                                .report(sink, job, &record.assessment)
                                .map_err(AppError::Output)?;
                        }
                        Ok(Err(refusal)) => {
                            self.refuse_job(job, side, &refusal, sink)?;
                            collection.refused += 1;
                        }
                        Err(stored) => {
                            return Err(AppError::Integrity(format!(
                                "a queued job's {stored} (model {})",
                                job.model_ref()
                            )))
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
                    self.refuse_job(job, side, &refusal, sink)?;
                    collection.refused += 1;
                }
            }
            done_ids.push(id.clone());
        }
        Ok(done_ids)
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
        side: &dyn StoredFinish,
        refusal: &ResultRefused,
        sink: &mut dyn QueueSink,
    ) -> Result<()> {
        let release = side.model_ref();
        record_refusal(&self.records.db, &release.id, release.version, refusal)?;
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

    /// Collect until no job of the selected models is pending, woken by the workers'
    /// notifications (polling every `poll` as the fallback).
    pub fn collect_until_done(
        &mut self,
        sink: &mut dyn QueueSink,
        poll: Duration,
    ) -> Result<Collection> {
        // The selected models' jobs when waiting began: those the first pass finished plus
        // those it left pending (counted by the pass, not by reading every job again).
        let mut total = None;
        let mut all = Collection::default();
        loop {
            let pass = self.collect(sink)?;
            let total = *total
                .get_or_insert((pass.stored + pass.failed + pass.refused + pass.pending) as u64);
            all.stored += pass.stored;
            all.failed += pass.failed;
            all.refused += pass.refused;
            all.pending = pass.pending;
            all.other_models = pass.other_models;
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

/// Encrypt each `(row, reference, patient)` with `side`'s prepare half, in parallel: the
/// jobs to record and enqueue, each keeping the values its result will be checked against.
pub(crate) fn prepare_jobs<S: ClientSide>(
    side: &S,
    rows: impl Iterator<Item = (usize, PatientRef, S::Patient)>,
) -> Result<Vec<QueuedJob>> {
    let rows: Vec<(usize, PatientRef, S::Patient)> = rows.collect();
    let now = SystemClock.now_unix_seconds();
    let release = side.model_ref();
    rows.par_iter()
        .map(|(row, patient_ref, patient)| {
            let request = side.prepare(patient, &mut StageTimings::default(), &mut |_| {})?;
            Ok(QueuedJob {
                job_id: JobId::random()?.to_string(),
                model_id: release.id.clone(),
                model_version: release.version,
                patient_ref: patient_ref.clone(),
                row: *row as u64,
                created_at: now,
                features: side.stored_values(patient),
                request,
            })
        })
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
            .find(|g| g[0].model_ref() == job.model_ref())
        {
            Some(group) => group.push(job.clone()),
            None => groups.push(vec![job.clone()]),
        }
    }
    groups
}
