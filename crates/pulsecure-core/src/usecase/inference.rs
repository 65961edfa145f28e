//! `InferenceService`: one screening through a directly reachable evaluator — the client
//! side's prepare (normalize, encrypt), the evaluator, the client side's finish (decrypt,
//! reference check), then storage.
//!
//! There is no plaintext shortcut: the assessment comes only from the decrypted result, and
//! that result is accepted only when the reference engine computes the same for the input
//! that was encrypted ([`crate::usecase::result_check`]). The job queue runs the same two halves
//! ([`crate::usecase::client_side`]) at submission and at collection.

use std::time::Instant;

use thiserror::Error;

use crate::domain::assessment::RiskAssessment;
use crate::domain::equation_model::EquationModel;
use crate::domain::model::Model;
use crate::domain::patient_ref::PatientRef;
use crate::ports::clock::Clock;
use crate::ports::fhe::{EquationFheClient, Evaluator, FheClient, FheError};
use crate::ports::store::{
    RecordStatus, ScreeningRecord, ScreeningStore, StoreError, StoredScreening,
};
use crate::usecase::client_side::{ClientSide, EquationSide, LogisticSide};
use crate::usecase::result_check::ResultRefused;
pub use crate::usecase::stage::{Stage, StageTimings};

/// A completed screening.
#[derive(Clone, Debug, PartialEq)]
pub struct Screening {
    /// The decrypted assessment.
    pub assessment: RiskAssessment,
    /// Per-stage timings.
    pub timings: StageTimings,
    /// Size of the encrypted request.
    pub upload_bytes: usize,
    /// Size of the encrypted result.
    pub download_bytes: usize,
}

/// Screening failures.
#[derive(Debug, Error)]
pub enum InferenceError {
    /// Encryption, evaluation or decryption failed.
    #[error(transparent)]
    Fhe(#[from] FheError),
    /// Storing the result failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The caller cancelled while the evaluation ran: the result was discarded unstored.
    #[error("cancelled: the result was discarded and nothing was stored")]
    Cancelled,
    /// The decrypted result is not what the reference engine computes for the encrypted
    /// input: refused, nothing stored.
    #[error(transparent)]
    ResultRefused(#[from] ResultRefused),
}

/// Outcome of a screening that is also recorded.
#[derive(Clone, Debug, PartialEq)]
pub enum Recorded {
    /// Newly screened and stored.
    Stored(Box<Screening>),
    /// This patient reference was already stored for this model version: skipped, and the
    /// stored row is returned.
    AlreadyStored(Box<StoredScreening>),
}

/// Runs screenings of one model through its client side and an evaluator.
pub struct InferenceService<'a, S: ClientSide> {
    side: S,
    evaluator: &'a dyn Evaluator,
}

/// A schema-1 model's (cvd-lr's) screenings.
pub type LogisticService<'a> = InferenceService<'a, LogisticSide<'a>>;

/// A published equation's screenings.
pub type EquationService<'a> = InferenceService<'a, EquationSide<'a>>;

impl<'a> LogisticService<'a> {
    /// Wire a schema-1 model, the client-side keys and an evaluator.
    pub fn logistic(
        model: &'a Model,
        client: &'a dyn FheClient,
        evaluator: &'a dyn Evaluator,
    ) -> Self {
        InferenceService::new(LogisticSide::new(model, client), evaluator)
    }

    /// The model in use.
    pub fn model(&self) -> &'a Model {
        self.side.model()
    }
}

impl<'a> EquationService<'a> {
    /// Wire a published equation, the client-side keys and an evaluator.
    pub fn equation(
        model: &'a EquationModel,
        client: &'a dyn EquationFheClient,
        evaluator: &'a dyn Evaluator,
    ) -> Self {
        InferenceService::new(EquationSide::new(model, client), evaluator)
    }

    /// The model in use.
    pub fn model(&self) -> &'a EquationModel {
        self.side.model()
    }
}

impl<'a, S: ClientSide> InferenceService<'a, S> {
    /// Wire a model's client side and an evaluator.
    pub fn new(side: S, evaluator: &'a dyn Evaluator) -> Self {
        InferenceService { side, evaluator }
    }

    /// Screen one checked patient under encryption, reporting each stage as it starts.
    pub fn screen(
        &self,
        patient: &S::Patient,
        progress: &mut dyn FnMut(Stage),
    ) -> Result<Screening, InferenceError> {
        let mut timings = StageTimings::default();
        let request = self.side.prepare(patient, &mut timings, progress)?;

        progress(Stage::Evaluate);
        let t = Instant::now();
        let response = self.evaluator.evaluate(&request)?;
        timings.evaluate = t.elapsed();

        progress(Stage::Decrypt);
        let t = Instant::now();
        let assessment = self.side.finish(patient, &request, &response)?;
        timings.decrypt = t.elapsed();

        Ok(Screening {
            assessment,
            timings,
            upload_bytes: request.len(),
            download_bytes: response.len(),
        })
    }

    /// Screen and store, skipping a patient reference already stored for this model version
    /// (so an interrupted batch resumes without duplicates).
    pub fn screen_and_record(
        &self,
        store: &dyn ScreeningStore,
        clock: &dyn Clock,
        patient_ref: &PatientRef,
        patient: &S::Patient,
        progress: &mut dyn FnMut(Stage),
    ) -> Result<Recorded, InferenceError> {
        self.screen_and_record_unless_cancelled(
            store,
            clock,
            patient_ref,
            patient,
            progress,
            &|| false,
        )
    }

    /// [`Self::screen_and_record`] for interactive use: `cancelled()` is asked once the slow
    /// evaluation is over, and when it says so the result is discarded, nothing is stored and
    /// [`InferenceError::Cancelled`] is returned.
    pub fn screen_and_record_unless_cancelled(
        &self,
        store: &dyn ScreeningStore,
        clock: &dyn Clock,
        patient_ref: &PatientRef,
        patient: &S::Patient,
        progress: &mut dyn FnMut(Stage),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Recorded, InferenceError> {
        let model = self.side.model_ref();
        if let Some(stored) = store.find(&model.id, model.version, patient_ref)? {
            return Ok(Recorded::AlreadyStored(Box::new(stored)));
        }
        let screening = self.screen(patient, progress)?;
        if cancelled() {
            return Err(InferenceError::Cancelled);
        }
        store.save(&ScreeningRecord {
            patient_ref: patient_ref.clone(),
            created_at: clock.now_unix_seconds(),
            features: self.side.stored_values(patient),
            assessment: screening.assessment.clone(),
            status: RecordStatus::Screened,
        })?;
        Ok(Recorded::Stored(Box::new(screening)))
    }
}
