//! `InferenceService`: validate → quantize → encrypt → evaluate (server) → decrypt.
//!
//! There is no plaintext shortcut: the assessment comes only from the decrypted result, and
//! that result is accepted only when the reference engine computes the same for the input
//! that was encrypted ([`crate::app::result_check`]).

use std::time::{Duration, Instant};

use thiserror::Error;

use crate::app::result_check::{checked_assessment, checked_equation_assessment, ResultRefused};
use crate::domain::assessment::RiskAssessment;
use crate::domain::equation::Inputs;
use crate::domain::equation_model::EquationModel;
use crate::domain::model::Model;
use crate::domain::patient::PatientFeatures;
use crate::domain::patient_ref::PatientRef;
use crate::domain::quantize::QuantizedInput;
use crate::ports::clock::Clock;
use crate::ports::fhe::{EquationFheClient, Evaluator, FheClient, FheError};
use crate::ports::store::{
    RecordStatus, ScreeningRecord, ScreeningStore, StoreError, StoredScreening,
};

/// The stages of one screening, reported to progress observers (CLI bar, TUI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Quantizing validated values on the client.
    Normalize,
    /// Encrypting on the client.
    Encrypt,
    /// Homomorphic evaluation on the server.
    Evaluate,
    /// Decrypting on the client.
    Decrypt,
}

impl Stage {
    /// Every stage in order.
    pub const ALL: [Stage; 4] = [
        Stage::Normalize,
        Stage::Encrypt,
        Stage::Evaluate,
        Stage::Decrypt,
    ];

    /// Display name.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Normalize => "normalize",
            Stage::Encrypt => "encrypt",
            Stage::Evaluate => "evaluate",
            Stage::Decrypt => "decrypt",
        }
    }
}

/// Time spent in each stage.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StageTimings {
    /// Quantization.
    pub normalize: Duration,
    /// Encryption.
    pub encrypt: Duration,
    /// Server evaluation.
    pub evaluate: Duration,
    /// Decryption.
    pub decrypt: Duration,
}

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

/// Runs screenings through an FHE client and an evaluator.
pub struct InferenceService<'a> {
    model: &'a Model,
    client: &'a dyn FheClient,
    evaluator: &'a dyn Evaluator,
}

impl<'a> InferenceService<'a> {
    /// Wire a model, the client-side keys and an evaluator.
    pub fn new(model: &'a Model, client: &'a dyn FheClient, evaluator: &'a dyn Evaluator) -> Self {
        InferenceService {
            model,
            client,
            evaluator,
        }
    }

    /// The model in use.
    pub fn model(&self) -> &Model {
        self.model
    }

    /// Screen one validated patient under encryption, reporting each stage as it starts.
    pub fn screen(
        &self,
        patient: &PatientFeatures,
        progress: &mut dyn FnMut(Stage),
    ) -> Result<Screening, InferenceError> {
        let mut timings = StageTimings::default();
        progress(Stage::Normalize);
        let t = Instant::now();
        let input = QuantizedInput::from_patient(self.model, patient);
        timings.normalize = t.elapsed();

        progress(Stage::Encrypt);
        let t = Instant::now();
        let request = self.client.encrypt(&input)?;
        timings.encrypt = t.elapsed();

        progress(Stage::Evaluate);
        let t = Instant::now();
        let response = self.evaluator.evaluate(&request)?;
        timings.evaluate = t.elapsed();

        progress(Stage::Decrypt);
        let t = Instant::now();
        let result = self
            .client
            .decrypt(&response)
            .map_err(ResultRefused::Unreadable)?;
        timings.decrypt = t.elapsed();
        let assessment = checked_assessment(self.model, &input, result)?;

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
        patient: &PatientFeatures,
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
        patient: &PatientFeatures,
        progress: &mut dyn FnMut(Stage),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Recorded, InferenceError> {
        if let Some(stored) = store.find(self.model.id(), self.model.version(), patient_ref)? {
            return Ok(Recorded::AlreadyStored(Box::new(stored)));
        }
        let screening = self.screen(patient, progress)?;
        if cancelled() {
            return Err(InferenceError::Cancelled);
        }
        store.save(&ScreeningRecord {
            patient_ref: patient_ref.clone(),
            created_at: clock.now_unix_seconds(),
            features: patient.values().to_vec(),
            assessment: screening.assessment.clone(),
            status: RecordStatus::Screened,
        })?;
        Ok(Recorded::Stored(Box::new(screening)))
    }
}

/// The same stages for a schema-2 model (a published equation): encode the checked inputs,
/// encrypt, evaluate, decrypt the index, and accept it only when the reference engine
/// ([`EquationModel::run`]) gives the same index ([`checked_equation_assessment`]).
pub struct EquationService<'a> {
    model: &'a EquationModel,
    client: &'a dyn EquationFheClient,
    evaluator: &'a dyn Evaluator,
}

impl<'a> EquationService<'a> {
    /// Wire a model, the client-side keys and an evaluator.
    pub fn new(
        model: &'a EquationModel,
        client: &'a dyn EquationFheClient,
        evaluator: &'a dyn Evaluator,
    ) -> Self {
        EquationService {
            model,
            client,
            evaluator,
        }
    }

    /// The model in use.
    pub fn model(&self) -> &EquationModel {
        self.model
    }

    /// Screen one patient's checked inputs under encryption, reporting each stage.
    pub fn screen(
        &self,
        inputs: &Inputs,
        progress: &mut dyn FnMut(Stage),
    ) -> Result<Screening, InferenceError> {
        let mut timings = StageTimings::default();
        progress(Stage::Normalize);
        let t = Instant::now();
        let encoded = self.model.encode(inputs);
        timings.normalize = t.elapsed();

        progress(Stage::Encrypt);
        let t = Instant::now();
        let request = self.client.encrypt(&encoded)?;
        timings.encrypt = t.elapsed();

        progress(Stage::Evaluate);
        let t = Instant::now();
        let response = self.evaluator.evaluate(&request)?;
        timings.evaluate = t.elapsed();

        progress(Stage::Decrypt);
        let t = Instant::now();
        let accumulator = self
            .client
            .decrypt(&response)
            .map_err(ResultRefused::Unreadable)?;
        timings.decrypt = t.elapsed();
        let assessment = checked_equation_assessment(self.model, inputs, accumulator)?;
        Ok(Screening {
            assessment,
            timings,
            upload_bytes: request.len(),
            download_bytes: response.len(),
        })
    }

    /// Screen and store (the values as [`stored_values`] gives them), skipping a patient
    /// reference already stored for this model version.
    pub fn screen_and_record(
        &self,
        store: &dyn ScreeningStore,
        clock: &dyn Clock,
        patient_ref: &PatientRef,
        inputs: &Inputs,
        progress: &mut dyn FnMut(Stage),
    ) -> Result<Recorded, InferenceError> {
        if let Some(stored) = store.find(self.model.id(), self.model.version(), patient_ref)? {
            return Ok(Recorded::AlreadyStored(Box::new(stored)));
        }
        let screening = self.screen(inputs, progress)?;
        store.save(&ScreeningRecord {
            patient_ref: patient_ref.clone(),
            created_at: clock.now_unix_seconds(),
            features: stored_values(self.model, inputs),
            assessment: screening.assessment.clone(),
            status: RecordStatus::Screened,
        })?;
        Ok(Recorded::Stored(Box::new(screening)))
    }
}

/// A schema-2 patient's values as a screening row stores them: every input in the model's
/// order, a choice input as the position of its level.
pub fn stored_values(model: &EquationModel, inputs: &Inputs) -> Vec<f64> {
    use crate::domain::equation::InputKind;
    model
        .equation()
        .inputs
        .iter()
        .map(|spec| match &spec.kind {
            InputKind::Choice { levels } => inputs
                .level(&spec.name)
                .and_then(|l| levels.iter().position(|x| x == l))
                .map_or(f64::NAN, |p| p as f64),
            _ => inputs.number(&spec.name).unwrap_or(f64::NAN),
        })
        .collect()
}
