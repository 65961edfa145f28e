//! The plaintext integer engine: steps 2-6 of the pipeline in plain Rust.
//!
//! This is the oracle: the Python export and every encrypted engine must reproduce its codes,
//! logit, index, probability and class bit for bit (golden-vector and random-input tests).

use crate::domain::assessment::{RiskAssessment, RiskClass};
use crate::domain::model::Model;
use crate::domain::patient::PatientFeatures;
use crate::domain::quantize::QuantizedInput;

/// Every intermediate value of one evaluation.
#[derive(Clone, PartialEq, Eq)]
pub struct Trace {
    /// Step 2: input codes.
    pub codes: Vec<u32>,
    /// Step 3: logit on the contribution grid.
    pub logit: i64,
    /// Step 4: table index.
    pub index: u32,
    /// Step 5: calibrated probability code (1/4096).
    pub probability_code: u32,
    /// Step 6: `probability_code >= threshold`.
    pub high_risk: bool,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Trace { <patient-derived values redacted> }")
    }
}

/// Evaluates a model in clear, with integer arithmetic only after step 2.
#[derive(Clone, Debug)]
pub struct ReferenceEngine<'m> {
    model: &'m Model,
}

impl<'m> ReferenceEngine<'m> {
    /// Engine for one validated model.
    pub fn new(model: &'m Model) -> Self {
        ReferenceEngine { model }
    }

    /// Steps 2-6 for a validated patient.
    pub fn evaluate(&self, patient: &PatientFeatures) -> Trace {
        self.evaluate_input(&QuantizedInput::from_patient(self.model, patient))
    }

    /// Steps 3-6 for already-quantized inputs.
    pub fn evaluate_input(&self, input: &QuantizedInput) -> Trace {
        let logit = self.logit(input);
        let index = self.index(logit);
        let probability_code = self.model.lut()[index as usize];
        Trace {
            codes: input.codes().to_vec(),
            logit,
            index,
            probability_code,
            high_risk: probability_code >= self.model.threshold(),
        }
    }

    /// Step 3: bias plus every digit's contribution.
    pub fn logit(&self, input: &QuantizedInput) -> i64 {
        self.model.rounded_bias()
            + self
                .model
                .digit_tables()
                .iter()
                .zip(input.digits())
                .map(|(table, &d)| table.values[usize::from(d)])
                .sum::<i64>()
    }

    /// Step 4: `clamp((logit + offset) >> shift, 0, 2^bits - 1)`.
    pub fn index(&self, logit: i64) -> u32 {
        let spec = self.model.index_spec();
        let top = (1i64 << spec.bits) - 1;
        ((logit + spec.offset) >> spec.shift).clamp(0, top) as u32
    }

    /// The clinician-facing result of a trace.
    pub fn assessment(&self, trace: &Trace) -> RiskAssessment {
        assessment_from(self.model, trace.probability_code, trace.high_risk)
    }
}

/// Build a [`RiskAssessment`] from a probability code and class bit (reference or decrypted).
pub fn assessment_from(model: &Model, probability_code: u32, high: bool) -> RiskAssessment {
    RiskAssessment {
        probability_code,
        probability: f64::from(probability_code) / f64::from(model.probability_scale()),
        class: RiskClass::from_high(high),
        model_id: model.id().to_string(),
        model_version: model.version(),
    }
}

/// Each feature's share of the logit, in log-odds: the sum of its digits' table entries
/// (step 3 without the bias), divided by `weight_scale / 2^grain_shift`. Zero at the bottom
/// of the feature's training range; positive values push toward high risk.
///
/// Computed on the client from the model and the entered values, to explain a result the
/// encrypted engine produced — never to replace it.
pub fn feature_contributions(model: &Model, input: &QuantizedInput) -> Vec<f64> {
    let mut sums = vec![0i64; model.features().len()];
    for (table, &digit) in model.digit_tables().iter().zip(input.digits()) {
        if let (Some(sum), Some(value)) = (
            sums.get_mut(table.feature),
            table.values.get(usize::from(digit)),
        ) {
            *sum += value;
        }
    }
    let units = model.document().quantization.weight_scale as f64
        / f64::from(1u32 << model.linear_spec().grain_shift);
    sums.into_iter().map(|s| s as f64 / units).collect()
}
