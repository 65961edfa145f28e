//! Submitting published-equation batches (PREVENT, the PCE) to the job queue: each row
//! through the core's intake for every selected model, exactly as a direct screening does
//! (a refusal rejects the row, known CVD or an age outside the equation is stored as not
//! eligible at once and never queued), patients stored or waiting from an earlier run
//! skipped, the rest encrypted by each model's client side and enqueued under that model.
//! Collection checks each result against `EquationModel::run` on the values recorded at
//! submission ([`crate::queue_screening`]).
//!
//! Counts are per patient and model: `prevent` queues two jobs per eligible patient.

use std::path::Path;
use std::sync::Arc;

use pulsecure_batch_input::{BatchReader, RawRow, RowError, PATIENT_ID};
use pulsecure_core::domain::eligibility::NotEligible;
use pulsecure_core::domain::equation::Inputs;
use pulsecure_core::domain::equation_intake::{intake, CholesterolUnits, Intake};
use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::ports::store::{ScreeningStore, StoreError};
use pulsecure_core::usecase::client_side::EquationSide;
use pulsecure_core::PatientRef;
use pulsecure_fhe::equation_fingerprint;
use pulsecure_store::QueuedJob;

use crate::byte_count::Counting;
use crate::equation_items::{EquationItem, EquationItems};
use crate::equation_screening::{
    columns, intake_error, not_eligible_record, stored_outcome, EquationOutcome, EquationRowResult,
};
use crate::error::{AppError, Result};
use crate::queue_screening::{
    prepare_jobs, InputProgress, QueueSink, QueueStation, Submission, Waiting, CHUNK,
};
use crate::row_chunks::{file_items, Items};

/// Eligible patients read but not encrypted yet, per selected model.
type Pending = Vec<Vec<(usize, PatientRef, Inputs)>>;

impl QueueStation {
    /// The selected published equations.
    pub fn equation_models(&self) -> Vec<Arc<EquationModel>> {
        self.equations
            .iter()
            .map(|t| Arc::clone(&t.model))
            .collect()
    }

    /// Submit the clinic batch at `path` (CSV, JSON Lines or a JSON array with the clinic
    /// columns) for every selected equation.
    pub fn submit_equation_batch(
        &mut self,
        path: &Path,
        units: CholesterolUnits,
        sink: &mut dyn QueueSink,
    ) -> Result<Submission> {
        let spec = columns(&self.equation_models());
        let file = std::fs::File::open(path).map_err(|e| AppError::io("reading", path, e))?;
        let total = file.metadata().map(|m| m.len()).unwrap_or(0);
        let (file, read) = Counting::new(file);
        let reader = BatchReader::with_columns(file, &spec, path.display().to_string())?;
        self.submit_equation_items(file_items(reader), units, (total, &|| read.get()), sink)
    }

    /// Submit a stream of items (a clinic file's rows, or patients read from FHIR) for every
    /// selected equation: as [`QueueStation::submit_equation_batch`].
    pub(crate) fn submit_equation_items(
        &mut self,
        items: Items<'_>,
        units: CholesterolUnits,
        (total, position): InputProgress<'_>,
        sink: &mut dyn QueueSink,
    ) -> Result<Submission> {
        if self.equations.is_empty() {
            // `select_equations` was not called: nothing would be screened.
            return Err(AppError::UnknownModel("(none selected)".into()));
        }
        let (resubmitted, waiting) = self.waiting_jobs()?;
        let mut summary = Submission {
            resubmitted,
            ..Submission::default()
        };
        let mut pending: Pending = vec![Vec::new(); self.equations.len()];
        sink.start(total);
        for item in EquationItems::new(items) {
            sink.progress(position());
            match item? {
                EquationItem::Raw(raw) => {
                    self.submit_raw(&raw, units, &waiting, &mut pending, &mut summary, sink)?;
                    if pending.iter().any(|p| p.len() >= CHUNK) {
                        summary.queued += self.enqueue_pending(&mut pending)?;
                    }
                }
                EquationItem::NotEligible(decided) => self.decided_not_eligible(
                    decided.row,
                    &decided.patient_ref,
                    &decided.why,
                    &waiting,
                    &mut summary,
                    sink,
                )?,
                EquationItem::Rejected(e) => {
                    summary.rejected += 1;
                    sink.rejected(&e).map_err(AppError::Output)?;
                }
            }
        }
        summary.queued += self.enqueue_pending(&mut pending)?;
        summary.log();
        Ok(summary)
    }

    /// One row through every selected model's intake: rejected, stored as not eligible,
    /// reported as stored or waiting from an earlier run, or kept to be encrypted.
    fn submit_raw(
        &self,
        raw: &RawRow,
        units: CholesterolUnits,
        waiting: &Waiting,
        pending: &mut Pending,
        summary: &mut Submission,
        sink: &mut dyn QueueSink,
    ) -> Result<()> {
        for (target, pending) in self.equations.iter().zip(pending.iter_mut()) {
            let model = &target.model;
            let decision = match intake(model, &raw.values, units) {
                Ok(d) => d,
                Err(e) => {
                    summary.rejected += 1;
                    // The same inputs fail every model's intake alike.
                    return sink
                        .rejected(&intake_error(raw.row, &raw.patient_ref, &e))
                        .map_err(AppError::Output);
                }
            };
            if self.reported_earlier(model, raw.row, &raw.patient_ref, waiting, summary, sink)? {
                continue;
            }
            match decision {
                Intake::Eligible(inputs) => {
                    pending.push((raw.row, raw.patient_ref.clone(), inputs))
                }
                Intake::NotEligible(why) => {
                    self.store_not_eligible(model, raw.row, &raw.patient_ref, &why, summary, sink)?;
                }
            }
        }
        Ok(())
    }

    /// A patient decided not eligible before intake (a FHIR record's sex), for every
    /// selected model.
    fn decided_not_eligible(
        &self,
        row: usize,
        patient_ref: &PatientRef,
        why: &NotEligible,
        waiting: &Waiting,
        summary: &mut Submission,
        sink: &mut dyn QueueSink,
    ) -> Result<()> {
        for target in &self.equations {
            let model = &target.model;
            if !self.reported_earlier(model, row, patient_ref, waiting, summary, sink)? {
                self.store_not_eligible(model, row, patient_ref, why, summary, sink)?;
            }
        }
        Ok(())
    }

    /// Whether an earlier run queued this patient for `model` (collected as submitted,
    /// whatever eligibility the file now implies; a row that fails intake is rejected first,
    /// as the cvd-lr reader rejects it before this point) or stored an outcome (reported as
    /// stored).
    fn reported_earlier(
        &self,
        model: &EquationModel,
        row: usize,
        patient_ref: &PatientRef,
        waiting: &Waiting,
        summary: &mut Submission,
        sink: &mut dyn QueueSink,
    ) -> Result<bool> {
        let key = (model.model_ref(), patient_ref.clone());
        if waiting.contains(&key) {
            summary.already_queued += 1;
            return Ok(true);
        }
        let Some(stored) = self
            .records()
            .db
            .find(model.id(), model.version(), patient_ref)?
        else {
            return Ok(false);
        };
        // A screening or a not-eligible decision: either way stored by an earlier run.
        summary.already_stored += 1;
        report(
            sink,
            model,
            row,
            patient_ref,
            &stored_outcome(model, stored.record),
        )?;
        Ok(true)
    }

    /// Store a not-eligible decision for `model` and report it.
    fn store_not_eligible(
        &self,
        model: &EquationModel,
        row: usize,
        patient_ref: &PatientRef,
        why: &NotEligible,
        summary: &mut Submission,
        sink: &mut dyn QueueSink,
    ) -> Result<()> {
        let (record, outcome) = not_eligible_record(model, patient_ref, why);
        match self.records().db.save(&record) {
            Ok(_) => {}
            // Stored by a concurrent run between the look-up and now.
            Err(StoreError::Duplicate) => {
                summary.rejected += 1;
                return sink
                    .rejected(&RowError {
                        row,
                        patient_ref: Some(patient_ref.clone()),
                        column: Some(PATIENT_ID.into()),
                        reason: "duplicated patient_id".into(),
                    })
                    .map_err(AppError::Output);
            }
            Err(e) => return Err(e.into()),
        }
        summary.not_eligible += 1;
        report(sink, model, row, patient_ref, &outcome)
    }

    /// Encrypt every pending patient with its model's client side, then record and enqueue
    /// the jobs; how many.
    fn enqueue_pending(&mut self, pending: &mut Pending) -> Result<usize> {
        let prepared: Vec<(Vec<QueuedJob>, [u8; 32])> = self
            .equations
            .iter()
            .zip(pending.iter_mut())
            .map(|(target, rows)| {
                let side = EquationSide::new(&target.model, &target.client);
                let jobs = prepare_jobs(&side, rows.drain(..))?;
                Ok((jobs, equation_fingerprint(&target.model)))
            })
            .collect::<Result<_>>()?;
        let mut queued = 0;
        for (jobs, fingerprint) in prepared {
            queued += self.record_and_enqueue(&jobs, fingerprint)?;
        }
        Ok(queued)
    }
}

fn report(
    sink: &mut dyn QueueSink,
    model: &EquationModel,
    row: usize,
    patient_ref: &PatientRef,
    outcome: &EquationOutcome,
) -> Result<()> {
    sink.equation_result(EquationRowResult {
        row,
        patient_ref,
        model_id: model.id(),
        model_version: model.version(),
        outcome,
    })
    .map_err(AppError::Output)
}
