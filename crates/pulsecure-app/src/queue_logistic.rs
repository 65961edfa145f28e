//! Submitting cvd-lr batches to the job queue: rows read against the active model,
//! not-eligible rows stored at once, patients stored or waiting from an earlier run
//! skipped, the rest encrypted by the model's client side and enqueued
//! ([`QueueStation::record_and_enqueue`]).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use pulsecure_batch_input::{BatchReader, IneligibleRow, InputRow};
use pulsecure_core::ports::store::{RecordStatus, ScreeningStore};
use pulsecure_core::usecase::inference::Recorded;
use pulsecure_core::{Model, PatientRef};
use pulsecure_fhe::model_fingerprint;

use crate::byte_count::Counting;
use crate::error::{AppError, Result};
use crate::queue_screening::{
    prepare_jobs, InputProgress, QueueSink, QueueStation, Submission, CHUNK,
};
use crate::row_chunks::{file_items, ChunkRow, Items, RowChunks};
use crate::screening::{
    record_not_eligible, BatchResult, Ineligible, NotEligibleResult, PatientOutcome, RowStatus,
};

impl QueueStation {
    /// Submit the cvd-lr batch file at `path`: validate, encrypt, record locally, enqueue.
    /// Rejected rows and patients stored before go to `sink`.
    pub fn submit_batch(&mut self, path: &Path, sink: &mut dyn QueueSink) -> Result<Submission> {
        let model = self.model();
        let file = std::fs::File::open(path).map_err(|e| AppError::io("reading", path, e))?;
        let total = file.metadata().map(|m| m.len()).unwrap_or(0);
        let (file, read) = Counting::new(file);
        let rows = file_items(BatchReader::from_reader(
            file,
            &model,
            path.display().to_string(),
        )?);
        self.submit_items(&model, rows, (total, &|| read.get()), sink)
    }

    /// Submit a stream of batch items read against `model` (the active cvd-lr one): as
    /// [`QueueStation::submit_batch`].
    pub(crate) fn submit_items(
        &mut self,
        model: &Arc<Model>,
        items: Items<'_>,
        (total, position): InputProgress<'_>,
        sink: &mut dyn QueueSink,
    ) -> Result<Submission> {
        let model = Arc::clone(model);
        let mut rows = RowChunks::new(items);
        sink.start(total);
        let (resubmitted, waiting) = self.waiting_jobs()?;
        let mut summary = Submission {
            resubmitted,
            ..Submission::default()
        };
        let queued: HashSet<PatientRef> = waiting
            .into_iter()
            .filter(|(release, _)| *release == model.model_ref())
            .map(|(_, patient_ref)| patient_ref)
            .collect();
        let fingerprint = model_fingerprint(&model);
        while let Some(read) = rows.next_chunk(CHUNK, &mut |e| {
            summary.rejected += 1;
            sink.rejected(e).map_err(AppError::Output)
        })? {
            sink.progress(position());
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
                    self.records()
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
            let jobs = prepare_jobs(
                &self.logistic_side(&model),
                chunk.into_iter().map(
                    |InputRow {
                         row,
                         patient_ref,
                         features,
                     }| (row, patient_ref, features),
                ),
            )?;
            summary.queued += self.record_and_enqueue(&jobs, fingerprint)?;
        }
        summary.log();
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
        let decision = match record_not_eligible(self.records(), model, &row.patient_ref, &row.why)?
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
}
