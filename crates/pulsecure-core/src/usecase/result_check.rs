//! The client's check of every decrypted result before it is shown or stored.
//!
//! The clinician's process holds the model and the quantized input it encrypted, and the
//! reference engine computes bit for bit what the encrypted circuit computes. So after
//! decrypting, the client recomputes the result in clear and refuses any difference. A
//! replayed answer (another patient's result under this request's id), two results swapped
//! in the queue's database, a forged or trivial ciphertext, an impostor on the evaluator's
//! socket or a buggy evaluator can then deny service, but never make a wrong result stick.
//!
//! The check is cheap (one table walk per screening, microseconds against a TFHE evaluation
//! of seconds). It cannot protect a model whose weights the client must not know; see
//! `docs/threat-model.md` for what that would need instead.

use thiserror::Error;

use crate::domain::assessment::{RiskAssessment, RiskClass};
use crate::domain::equation::Inputs;
use crate::domain::equation_model::EquationModel;
use crate::domain::model::Model;
use crate::domain::quantize::QuantizedInput;
use crate::ports::fhe::{DecryptedResult, FheError};
use crate::reference::{assessment_from, ReferenceEngine};

/// Why a decrypted result was refused. Messages name the kind of disagreement only: no
/// probability, class or input value appears in them.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ResultRefused {
    /// The answer does not decrypt under this workstation's key: malformed, made for another
    /// model or key set, or a trivial (keyless) ciphertext.
    #[error("the evaluator's result was refused: {0}; nothing was stored")]
    Unreadable(FheError),
    /// The probability code is none of the levels of the model's output table: no honest
    /// evaluation can produce it.
    #[error(
        "the evaluator's result is not one of the model's probability levels \
         (a forged or corrupted answer); nothing was stored"
    )]
    NotATableLevel,
    /// The class bit disagrees with the model's threshold applied to the probability code.
    #[error(
        "the evaluator's risk class disagrees with its own probability under the model's \
         threshold (a forged or corrupted answer); nothing was stored"
    )]
    ClassDisagreesWithThreshold,
    /// A well-formed result that is not the one the reference engine computes for the
    /// input that was encrypted (a replayed, swapped or wrongly computed answer).
    #[error(
        "the evaluator's result differs from the reference engine's for the same input \
         (a replayed, swapped or wrongly computed answer); nothing was stored"
    )]
    DiffersFromReference,
}

impl ResultRefused {
    /// A stable short name for the audit log and machine-readable outputs.
    pub fn as_str(&self) -> &'static str {
        match self {
            ResultRefused::Unreadable(_) => "unreadable",
            ResultRefused::NotATableLevel => "not-a-table-level",
            ResultRefused::ClassDisagreesWithThreshold => "class-disagrees-with-threshold",
            ResultRefused::DiffersFromReference => "differs-from-reference",
        }
    }
}

/// Accept `result`, decrypted for the encryption of `input` under `model`, only if it is
/// exactly what the reference engine computes for `input`; the assessment to show and store.
pub fn checked_assessment(
    model: &Model,
    input: &QuantizedInput,
    result: DecryptedResult,
) -> Result<RiskAssessment, ResultRefused> {
    if !model.lut().contains(&result.probability_code) {
        return Err(ResultRefused::NotATableLevel);
    }
    if result.high_risk != (result.probability_code >= model.threshold()) {
        return Err(ResultRefused::ClassDisagreesWithThreshold);
    }
    let expected = ReferenceEngine::new(model).evaluate_input(input);
    if expected.probability_code != result.probability_code
        || expected.high_risk != result.high_risk
    {
        return Err(ResultRefused::DiffersFromReference);
    }
    Ok(assessment_from(
        model,
        result.probability_code,
        result.high_risk,
    ))
}

/// Accept `accumulator` (`acc + offset`), decrypted for the encryption of `inputs` under the
/// schema-2 `model`, only if it is exactly the one the reference engine
/// ([`EquationModel::run`]) computes for `inputs` — every bit of the linear sum, not only
/// the table index it falls in; the assessment to show and store.
pub fn checked_equation_assessment(
    model: &EquationModel,
    inputs: &Inputs,
    accumulator: u64,
) -> Result<RiskAssessment, ResultRefused> {
    let reference = model.run(inputs);
    let expected = reference.acc + model.index().offset;
    if i64::try_from(accumulator) != Ok(expected) {
        return Err(ResultRefused::DiffersFromReference);
    }
    let Some((probability, _)) = model.read(model.index_of(reference.acc)) else {
        return Err(ResultRefused::NotATableLevel);
    };
    Ok(equation_assessment(model, probability))
}

/// The assessment of a schema-2 probability (table units): the probability code is the
/// table's unit (1 / `probability_scale`, 0.01 percentage point for PREVENT), and the
/// stored class bit is `high` exactly in the model's top category band (the full category
/// is always re-read from the code with [`EquationModel::category_of`]).
pub fn equation_assessment(model: &EquationModel, probability: u32) -> RiskAssessment {
    let bands = model.output().categories.len();
    let category = model.category_of(probability);
    RiskAssessment {
        probability_code: probability,
        probability: f64::from(probability) / f64::from(model.output().probability_scale),
        class: RiskClass::from_high(category + 1 == bands),
        model_id: model.id().to_string(),
        model_version: model.version(),
    }
}
