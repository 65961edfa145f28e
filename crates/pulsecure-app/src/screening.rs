//! Screening one patient or a batch through the workstation: validation once against the
//! active model, encryption, the evaluator, decryption, storage. A batch streams its input
//! (read once) in small chunks screened in parallel, reports bad rows without stopping, and
//! resumes after an interruption without screening a stored patient again.

use std::path::Path;

use pulsecure_batch_input::{BatchReader, RowError, PATIENT_ID};
use pulsecure_core::domain::eligibility::{IneligibleReason, NotEligible};
use pulsecure_core::domain::population::{intake_schema1, Screenable};
use pulsecure_core::ports::clock::{Clock, SystemClock};
use pulsecure_core::ports::store::{RecordStatus, ScreeningRecord, ScreeningStore, StoreError};
use pulsecure_core::usecase::inference::{
    InferenceError, InferenceService, LogisticService, Recorded, Stage,
};
use pulsecure_core::usecase::result_check::ResultRefused;
use pulsecure_core::{GivenField, Model, PatientFeatures, PatientRef, RiskAssessment};
use rayon::prelude::*;

use crate::byte_count::Counting;
use crate::error::{AppError, Result};
use crate::records::Records;
use crate::result_refusal::record_refusal;
use crate::row_chunks::{file_items, ChunkRow, Items, RowChunks};
use crate::workstation::Workstation;

/// A fresh pseudonymous reference (`P-` and 12 random hex digits).
pub fn generated_ref() -> Result<PatientRef> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|_| AppError::Random)?;
    let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(PatientRef::parse(&format!("P-{text}"))?)
}

impl Workstation {
    fn service(&self) -> LogisticService<'_> {
        InferenceService::logistic(self.model(), self.client(), self.evaluator())
    }

    /// Decide one input against the active model (the one validation of a patient): its
    /// population first (known CVD, age range), then every feature; an unknown field is
    /// reported by its position, never its name.
    pub fn intake(&self, fields: &[GivenField]) -> Result<Screenable> {
        let model = self.model();
        Ok(intake_schema1(
            model.features(),
            model.population(),
            fields,
        )?)
    }

    /// Store that `patient_ref` is outside the active model's population (nothing is
    /// encrypted or sent), unless an earlier run stored this reference for this model
    /// version: then what it stored is the outcome.
    pub fn record_not_eligible(
        &self,
        patient_ref: &PatientRef,
        why: &NotEligible,
    ) -> Result<PatientOutcome> {
        record_not_eligible(self.records(), self.model(), patient_ref, why)
    }

    /// Screen and store one validated patient; `cancelled()` is asked once the evaluation
    /// is over (the TUI's Esc), and a reference already stored for this model version is
    /// returned as [`Recorded::AlreadyStored`] with its stored row.
    pub fn screen(
        &self,
        patient_ref: &PatientRef,
        patient: &PatientFeatures,
        progress: &mut dyn FnMut(Stage),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Recorded> {
        let recorded = self.record(patient_ref, patient, progress, cancelled);
        match &recorded {
            Ok(Recorded::Stored(s)) => tracing::info!(
                evaluate_ms = s.timings.evaluate.as_millis() as u64,
                upload_bytes = s.upload_bytes,
                "screening stored"
            ),
            Ok(Recorded::AlreadyStored(_)) => tracing::info!("screening already stored"),
            Err(InferenceError::Cancelled) => {
                tracing::info!("screening cancelled; result discarded")
            }
            Err(_) => {}
        }
        let recorded = recorded?;
        // A long session (the TUI) records each screening's generation in the vault at once.
        if let Recorded::Stored(_) = &recorded {
            self.records().record_state()?;
        }
        Ok(recorded)
    }

    /// Screen and store without logging (a batch logs its summary, not every row).
    fn record(
        &self,
        patient_ref: &PatientRef,
        patient: &PatientFeatures,
        progress: &mut dyn FnMut(Stage),
        cancelled: &dyn Fn() -> bool,
    ) -> std::result::Result<Recorded, InferenceError> {
        let outcome = self.service().screen_and_record_unless_cancelled(
            &self.records().db,
            &SystemClock,
            patient_ref,
            patient,
            progress,
            cancelled,
        );
        if let Err(InferenceError::ResultRefused(refusal)) = &outcome {
            record_refusal(
                &self.records().db,
                self.model().id(),
                self.model().version(),
                refusal,
            )?;
        }
        outcome
    }

    /// Screen one patient given as named values in input order (validated once, against the
    /// active model) under `patient_ref`, or a generated reference; then stored — or, for
    /// a patient outside the model's population, the not-eligible decision stored.
    pub fn screen_values(
        &self,
        patient_ref: Option<PatientRef>,
        values: &[GivenField],
        progress: &mut dyn FnMut(Stage),
    ) -> Result<(PatientRef, PatientOutcome)> {
        let patient_ref = match patient_ref {
            Some(r) => r,
            None => generated_ref()?,
        };
        let outcome = match self.intake(values)? {
            Screenable::Eligible(patient) => PatientOutcome::from_recorded(self.screen(
                &patient_ref,
                &patient,
                progress,
                &|| false,
            )?),
            Screenable::NotEligible(why) => {
                let outcome = self.record_not_eligible(&patient_ref, &why)?;
                self.records().record_state()?;
                outcome
            }
        };
        Ok((patient_ref, outcome))
    }
}

/// Store that `patient_ref` is outside `model`'s population, unless an earlier run stored
/// this reference for this model version (then what it stored is the outcome). The direct
/// and the queued batch share it: nothing of such a patient is encrypted or sent.
pub(crate) fn record_not_eligible(
    records: &Records,
    model: &Model,
    patient_ref: &PatientRef,
    why: &NotEligible,
) -> Result<PatientOutcome> {
    let db = &records.db;
    if let Some(stored) = db.find(model.id(), model.version(), patient_ref)? {
        return Ok(PatientOutcome::from_recorded(Recorded::AlreadyStored(
            Box::new(stored),
        )));
    }
    db.save(&ScreeningRecord::not_eligible(
        patient_ref.clone(),
        SystemClock.now_unix_seconds(),
        model.id(),
        model.version(),
        model.features().len(),
        why.kind(),
    ))?;
    Ok(PatientOutcome::NotEligible(Ineligible::decided(why)))
}

/// A not-eligible decision as every screening path reports it (cvd-lr's population rule and
/// the published equations' intake alike): no estimate, nothing encrypted; stored as such.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ineligible {
    /// Why, as stored.
    pub reason: IneligibleReason,
    /// Why, in words (with the model's age range when decided now).
    pub text: String,
    /// Decided now, or stored by an earlier run.
    pub status: RowStatus,
}

impl Ineligible {
    /// Decided now.
    pub fn decided(why: &NotEligible) -> Self {
        Ineligible {
            reason: why.kind(),
            text: why.reason(),
            status: RowStatus::Screened,
        }
    }

    /// Stored by an earlier run (the stored reason; the age range is not stored).
    pub fn stored(reason: IneligibleReason) -> Self {
        Ineligible {
            reason,
            text: reason.text().to_string(),
            status: RowStatus::AlreadyStored,
        }
    }
}

/// What screening one schema-1 patient gave.
pub enum PatientOutcome {
    /// Screened now, or a screening an earlier run stored.
    Recorded(Recorded),
    /// Outside the model's population.
    NotEligible(Ineligible),
}

impl PatientOutcome {
    /// A recorded screening as an outcome: a stored not-eligible row reads as such.
    pub fn from_recorded(recorded: Recorded) -> Self {
        match recorded {
            Recorded::AlreadyStored(stored) => match stored.record.status {
                RecordStatus::NotEligible(reason) => {
                    PatientOutcome::NotEligible(Ineligible::stored(reason))
                }
                RecordStatus::Screened => PatientOutcome::Recorded(Recorded::AlreadyStored(stored)),
            },
            fresh => PatientOutcome::Recorded(fresh),
        }
    }
}

/// How a batch row ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowStatus {
    /// Screened now and stored.
    Screened,
    /// Stored by an earlier (interrupted) run: the stored result is reported.
    AlreadyStored,
}

impl RowStatus {
    /// The stable output word (`screened` / `already-stored`).
    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Screened => "screened",
            RowStatus::AlreadyStored => "already-stored",
        }
    }
}

/// One screened batch row.
pub struct BatchResult<'a> {
    /// 1-based row number.
    pub row: usize,
    /// Its reference.
    pub patient_ref: &'a PatientRef,
    /// New or resumed.
    pub status: RowStatus,
    /// The result.
    pub assessment: &'a RiskAssessment,
}

/// One batch row outside the model's population.
pub struct NotEligibleResult<'a> {
    /// 1-based row number.
    pub row: usize,
    /// Its reference.
    pub patient_ref: &'a PatientRef,
    /// The decision (now, or stored by an earlier run).
    pub decision: &'a Ineligible,
    /// The model.
    pub model_id: &'a str,
    /// Its version.
    pub model_version: u64,
}

/// Receives a batch's outcomes as they complete, in input order within each chunk.
pub trait BatchSink {
    /// The input's size in bytes, before the first row.
    fn start(&mut self, total_bytes: u64);
    /// A screened (or resumed) row.
    fn result(&mut self, result: BatchResult<'_>) -> std::io::Result<()>;
    /// A row outside the model's population (decided now or stored by an earlier run).
    fn not_eligible(&mut self, row: NotEligibleResult<'_>) -> std::io::Result<()>;
    /// A rejected row (which row, which column, why — never the value).
    fn rejected(&mut self, error: &RowError) -> std::io::Result<()>;
    /// Bytes of the input read so far.
    fn progress(&mut self, bytes_read: u64);
}

/// Counts of a finished batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchSummary {
    /// Screened now.
    pub screened: usize,
    /// Already stored (resumed).
    pub resumed: usize,
    /// Outside the model's population (decided now; resumed ones count in `resumed`).
    pub not_eligible: usize,
    /// Rejected rows.
    pub rejected: usize,
    /// Rows whose encrypted result was refused by the client's check (not stored; reported
    /// with the rejected rows).
    pub refused: usize,
}

enum Outcome {
    Done(Box<RiskAssessment>, RowStatus),
    NotEligible(Ineligible),
    Duplicate,
    /// The evaluator's answer was refused (audited in `record`); nothing stored.
    Refused(ResultRefused),
}

fn output_error(e: std::io::Error) -> AppError {
    AppError::Output(e)
}

impl Workstation {
    fn screen_row(&self, row: &ChunkRow) -> Result<Outcome> {
        let recorded = match row {
            ChunkRow::Screen(row) => self
                .record(&row.patient_ref, &row.features, &mut |_| {}, &|| false)
                .map(PatientOutcome::from_recorded)
                .map_err(AppError::from),
            ChunkRow::NotEligible(row) => self.record_not_eligible(&row.patient_ref, &row.why),
        };
        match recorded {
            Ok(PatientOutcome::Recorded(Recorded::Stored(s))) => {
                Ok(Outcome::Done(Box::new(s.assessment), RowStatus::Screened))
            }
            Ok(PatientOutcome::Recorded(Recorded::AlreadyStored(stored))) => Ok(Outcome::Done(
                Box::new(stored.record.assessment),
                RowStatus::AlreadyStored,
            )),
            Ok(PatientOutcome::NotEligible(decision)) => Ok(Outcome::NotEligible(decision)),
            // Another row with this reference won the race: a duplicate row.
            Err(AppError::Store(StoreError::Duplicate)) => Ok(Outcome::Duplicate),
            Err(AppError::ResultRefused(refusal)) => Ok(Outcome::Refused(refusal)),
            Err(e) => Err(e),
        }
    }

    /// Screen the batch file at `path` (CSV, JSON Lines or a JSON array), read once and
    /// validated against the active model. Rejected rows go to `sink` and the rest runs;
    /// rows already stored for this model version are reported, not screened again.
    pub fn screen_batch(&self, path: &Path, sink: &mut dyn BatchSink) -> Result<BatchSummary> {
        let file = std::fs::File::open(path).map_err(|e| AppError::io("reading", path, e))?;
        let total = file.metadata().map(|m| m.len()).unwrap_or(0);
        let (source, count) = Counting::new(file);
        let rows = file_items(BatchReader::from_reader(
            source,
            self.model(),
            path.display().to_string(),
        )?);
        self.screen_items(rows, total, &|| count.get(), sink)
    }

    /// Screen a stream of batch items (a file's rows, or patients read from FHIR) with the
    /// active model: as [`Workstation::screen_batch`]; `position()` out of `total` is the
    /// progress reported after each chunk.
    pub(crate) fn screen_items(
        &self,
        items: Items<'_>,
        total: u64,
        position: &dyn Fn() -> u64,
        sink: &mut dyn BatchSink,
    ) -> Result<BatchSummary> {
        let mut rows = RowChunks::new(items);
        sink.start(total);
        let mut summary = BatchSummary::default();
        let in_flight = self.in_flight().max(1);
        // As many screenings at once as the evaluator can take (its workers, when remote).
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(in_flight)
            .thread_name(|i| format!("batch-{i}"))
            .build()
            .map_err(|e| AppError::Output(std::io::Error::other(e.to_string())))?;
        let chunk_size = 2 * in_flight;
        while let Some(chunk) = rows.next_chunk(chunk_size, &mut |e| {
            summary.rejected += 1;
            sink.rejected(e).map_err(output_error)
        })? {
            let outcomes: Vec<Result<Outcome>> =
                pool.install(|| chunk.par_iter().map(|row| self.screen_row(row)).collect());
            for (row, outcome) in chunk.iter().zip(outcomes) {
                let (row_no, patient_ref) = (row.row(), row.patient_ref());
                match outcome? {
                    Outcome::Done(assessment, status) => {
                        match status {
                            RowStatus::Screened => summary.screened += 1,
                            RowStatus::AlreadyStored => summary.resumed += 1,
                        }
                        sink.result(BatchResult {
                            row: row_no,
                            patient_ref,
                            status,
                            assessment: &assessment,
                        })
                        .map_err(output_error)?;
                    }
                    Outcome::NotEligible(decision) => {
                        match decision.status {
                            RowStatus::Screened => summary.not_eligible += 1,
                            RowStatus::AlreadyStored => summary.resumed += 1,
                        }
                        sink.not_eligible(NotEligibleResult {
                            row: row_no,
                            patient_ref,
                            decision: &decision,
                            model_id: self.model().id(),
                            model_version: self.model().version(),
                        })
                        .map_err(output_error)?;
                    }
                    Outcome::Refused(refusal) => {
                        summary.refused += 1;
                        sink.rejected(&RowError {
                            row: row_no,
                            patient_ref: Some(patient_ref.clone()),
                            column: None,
                            reason: refusal.to_string(),
                        })
                        .map_err(output_error)?;
                    }
                    Outcome::Duplicate => {
                        summary.rejected += 1;
                        sink.rejected(&RowError {
                            row: row_no,
                            patient_ref: Some(patient_ref.clone()),
                            column: Some(PATIENT_ID.into()),
                            reason: "duplicated patient_id".into(),
                        })
                        .map_err(output_error)?;
                    }
                }
            }
            sink.progress(position());
        }
        tracing::info!(
            screened = summary.screened,
            resumed = summary.resumed,
            not_eligible = summary.not_eligible,
            rejected = summary.rejected,
            refused = summary.refused,
            "batch finished"
        );
        Ok(summary)
    }
}
