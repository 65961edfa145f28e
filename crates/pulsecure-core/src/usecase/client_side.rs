//! The client's two halves of one screening, whatever carries the ciphertext between them:
//! **prepare** (normalize the checked values, encrypt; the request names the model and the
//! key it was made for) and **finish** (decrypt, and accept the result only when the
//! reference engine computes the same for the values that were encrypted).
//!
//! A direct screening runs prepare → evaluator → finish in one call
//! ([`crate::usecase::inference::InferenceService`]); the job queue runs prepare at submission
//! and finish at collection, with the values kept in the sealed local database in between
//! ([`ClientSide::stored_values`], [`ClientSide::patient_from_stored`]). Both transports
//! thus share one result check, for cvd-lr and for the published equations alike.

use std::time::Instant;

use thiserror::Error;

use crate::domain::assessment::RiskAssessment;
use crate::domain::equation::Inputs;
use crate::domain::equation_model::{EquationModel, StoredInputsError};
use crate::domain::model::Model;
use crate::domain::model_ref::ModelRef;
use crate::domain::patient::{PatientError, PatientFeatures};
use crate::domain::quantize::QuantizedInput;
use crate::ports::fhe::{EquationFheClient, FheClient, FheError};
use crate::usecase::result_check::{
    checked_assessment, checked_equation_assessment, ResultRefused,
};
use crate::usecase::stage::{Stage, StageTimings};

/// Stored values that do not give back a patient of the model they were stored for (the
/// sealed database was written by another build, or damaged). Never holds a value.
#[derive(Debug, Error)]
pub enum StoredPatientError {
    /// A schema-1 model's features.
    #[error("stored values: {0}")]
    Features(#[from] PatientError),
    /// A published equation's inputs.
    #[error("stored values: {0}")]
    Inputs(#[from] StoredInputsError),
}

/// One model's client side: its keys and its reference check.
pub trait ClientSide: Sync {
    /// The checked patient this model encrypts.
    type Patient: Sync;

    /// The model release this side encrypts for.
    fn model_ref(&self) -> ModelRef;

    /// Normalize and encrypt `patient` (reporting [`Stage::Normalize`] and
    /// [`Stage::Encrypt`] as each starts, timing both into `timings`): the request.
    fn prepare(
        &self,
        patient: &Self::Patient,
        timings: &mut StageTimings,
        progress: &mut dyn FnMut(Stage),
    ) -> Result<Vec<u8>, FheError>;

    /// Decrypt `response`, the answer to `request` (what [`ClientSide::prepare`] made for
    /// `patient`), and accept it only if it is exactly what the reference engine computes
    /// for `patient`: the assessment to show and store.
    fn finish(
        &self,
        patient: &Self::Patient,
        request: &[u8],
        response: &[u8],
    ) -> Result<RiskAssessment, ResultRefused>;

    /// `patient`'s values as a screening row stores them.
    fn stored_values(&self, patient: &Self::Patient) -> Vec<f64>;

    /// The patient [`ClientSide::stored_values`] gave `values` for, checked again.
    fn patient_from_stored(&self, values: &[f64]) -> Result<Self::Patient, StoredPatientError>;
}

/// A finished job's half that does not need to know the patient's type: what the queue's
/// collector calls for each job, whichever model it was encrypted for.
pub trait StoredFinish: Sync {
    /// The model release the job was encrypted for.
    fn model_ref(&self) -> ModelRef;
    /// [`ClientSide::finish`] on the patient stored as `values`, whose request was
    /// `request`.
    fn finish_stored(
        &self,
        values: &[f64],
        request: &[u8],
        response: &[u8],
    ) -> Result<Result<RiskAssessment, ResultRefused>, StoredPatientError>;
}

impl<S: ClientSide> StoredFinish for S {
    fn model_ref(&self) -> ModelRef {
        ClientSide::model_ref(self)
    }

    fn finish_stored(
        &self,
        values: &[f64],
        request: &[u8],
        response: &[u8],
    ) -> Result<Result<RiskAssessment, ResultRefused>, StoredPatientError> {
        let patient = self.patient_from_stored(values)?;
        Ok(self.finish(&patient, request, response))
    }
}

/// Run a prepare half's two stages, `normalize` then `encrypt`, reporting each as it starts
/// and timing both.
fn timed_prepare<T>(
    timings: &mut StageTimings,
    progress: &mut dyn FnMut(Stage),
    normalize: impl FnOnce() -> T,
    encrypt: impl FnOnce(&T) -> Result<Vec<u8>, FheError>,
) -> Result<Vec<u8>, FheError> {
    progress(Stage::Normalize);
    let t = Instant::now();
    let normalized = normalize();
    timings.normalize = t.elapsed();
    progress(Stage::Encrypt);
    let t = Instant::now();
    let request = encrypt(&normalized)?;
    timings.encrypt = t.elapsed();
    Ok(request)
}

/// A schema-1 model (cvd-lr): validated features, quantized by the model's table.
pub struct LogisticSide<'a> {
    model: &'a Model,
    client: &'a dyn FheClient,
}

impl<'a> LogisticSide<'a> {
    /// The model and the client keys made for it.
    pub fn new(model: &'a Model, client: &'a dyn FheClient) -> Self {
        LogisticSide { model, client }
    }

    /// The model.
    pub fn model(&self) -> &'a Model {
        self.model
    }
}

impl ClientSide for LogisticSide<'_> {
    type Patient = PatientFeatures;

    fn model_ref(&self) -> ModelRef {
        self.model.model_ref()
    }

    fn prepare(
        &self,
        patient: &PatientFeatures,
        timings: &mut StageTimings,
        progress: &mut dyn FnMut(Stage),
    ) -> Result<Vec<u8>, FheError> {
        timed_prepare(
            timings,
            progress,
            || QuantizedInput::from_patient(self.model, patient),
            |input| self.client.encrypt(input),
        )
    }

    fn finish(
        &self,
        patient: &PatientFeatures,
        _request: &[u8],
        response: &[u8],
    ) -> Result<RiskAssessment, ResultRefused> {
        let result = self
            .client
            .decrypt(response)
            .map_err(ResultRefused::Unreadable)?;
        let input = QuantizedInput::from_patient(self.model, patient);
        checked_assessment(self.model, &input, result)
    }

    fn stored_values(&self, patient: &PatientFeatures) -> Vec<f64> {
        patient.values().to_vec()
    }

    fn patient_from_stored(&self, values: &[f64]) -> Result<PatientFeatures, StoredPatientError> {
        Ok(PatientFeatures::from_ordered(
            self.model.features(),
            values,
        )?)
    }
}

/// A schema-2 model (a published equation): checked inputs, encoded by the model's terms.
pub struct EquationSide<'a> {
    model: &'a EquationModel,
    client: &'a dyn EquationFheClient,
}

impl<'a> EquationSide<'a> {
    /// The model and the client keys made for it.
    pub fn new(model: &'a EquationModel, client: &'a dyn EquationFheClient) -> Self {
        EquationSide { model, client }
    }

    /// The model.
    pub fn model(&self) -> &'a EquationModel {
        self.model
    }
}

impl ClientSide for EquationSide<'_> {
    type Patient = Inputs;

    fn model_ref(&self) -> ModelRef {
        self.model.model_ref()
    }

    fn prepare(
        &self,
        inputs: &Inputs,
        timings: &mut StageTimings,
        progress: &mut dyn FnMut(Stage),
    ) -> Result<Vec<u8>, FheError> {
        timed_prepare(
            timings,
            progress,
            || self.model.encode(inputs),
            |encoded| self.client.encrypt(encoded),
        )
    }

    fn finish(
        &self,
        inputs: &Inputs,
        request: &[u8],
        response: &[u8],
    ) -> Result<RiskAssessment, ResultRefused> {
        let accumulator = self
            .client
            .decrypt(request, response)
            .map_err(ResultRefused::Unreadable)?;
        checked_equation_assessment(self.model, inputs, accumulator)
    }

    fn stored_values(&self, inputs: &Inputs) -> Vec<f64> {
        self.model.stored_values(inputs)
    }

    fn patient_from_stored(&self, values: &[f64]) -> Result<Inputs, StoredPatientError> {
        Ok(self.model.inputs_from_stored(values)?)
    }
}
