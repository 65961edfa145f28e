//! Homomorphic-encryption ports: the client (holds the secret key) and the evaluator (holds
//! only the server key and the model). Both speak bytes, so the evaluator can run in-process,
//! in another process or on another machine.

use thiserror::Error;

use crate::domain::equation_model::EncodedPatient;
use crate::domain::model_limit::ModelLimit;
use crate::domain::quantize::QuantizedInput;

/// What an FHE adapter can report. Messages describe the problem, never key or data bytes.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum FheError {
    /// Bytes that do not deserialize (garbage, truncated, too large, wrong type).
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being read: `server key`, `request`, `result`.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// Well-formed bytes that do not fit the expected key, parameters or model.
    #[error("{what} does not match: {reason}")]
    Mismatch {
        /// What was being checked.
        what: &'static str,
        /// Why it does not match.
        reason: String,
    },
    /// A model outside what this engine can evaluate exactly.
    #[error("model not supported by the encrypted engine: {0}")]
    UnsupportedModel(String),
    /// The evaluator could not be reached (after retries), or stopped answering.
    #[error("evaluator unavailable: {0}")]
    Unavailable(String),
    /// The evaluator does not hold this key set (never registered, or removed since).
    #[error("the evaluator does not hold this workstation's server key")]
    KeyUnknown,
    /// The evaluator does not serve this model (release not installed there).
    #[error("the evaluator does not serve this model: {0}")]
    ModelUnknown(String),
    /// The evaluator stayed busy (its queue full) past the client's retry budget.
    #[error("the evaluator is busy (its queue stayed full): {0}")]
    Busy(String),
    /// An internal invariant failed (noise or degree budget, a bug).
    #[error("encrypted evaluation failed: {0}")]
    Evaluation(String),
}

impl FheError {
    /// A model breaking a limit of the model contract (`docs/model-format.md`): the message
    /// starts with the limit's name.
    pub fn model_limit(limit: ModelLimit, reason: impl Into<String>) -> Self {
        FheError::UnsupportedModel(format!("{}: {}", limit.label(), reason.into()))
    }
}

/// The decrypted output of one evaluation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DecryptedResult {
    /// Calibrated probability code (1/4096).
    pub probability_code: u32,
    /// Risk class bit.
    pub high_risk: bool,
}

impl std::fmt::Debug for DecryptedResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DecryptedResult { <redacted> }")
    }
}

/// Client side: encrypts a patient's quantized inputs and decrypts results.
pub trait FheClient: Send + Sync {
    /// Serialize the encrypted inputs as sent to the evaluator.
    fn encrypt(&self, input: &QuantizedInput) -> Result<Vec<u8>, FheError>;
    /// Decrypt an evaluator's answer.
    fn decrypt(&self, result: &[u8]) -> Result<DecryptedResult, FheError>;
}

/// Client side for a schema-2 (published equation) model: encrypts a patient's encoded
/// terms and group, and decrypts the accumulator the evaluator returns.
pub trait EquationFheClient: Send + Sync {
    /// Serialize the encrypted slots (each term code in the patient's coefficient set, zero
    /// in the others) as sent to the evaluator.
    fn encrypt(&self, patient: &EncodedPatient) -> Result<Vec<u8>, FheError>;
    /// Decrypt an evaluator's answer to `request` (one this client encrypted) into the
    /// accumulator plus the index offset (`acc + offset`, never negative). The evaluator's
    /// part is a public linear map, so the answer is known before it arrives: anything else
    /// is refused before any decryption.
    fn decrypt(&self, request: &[u8], result: &[u8]) -> Result<u64, FheError>;
}

/// Server side: computes the whole pipeline (steps 3-6) on ciphertexts.
pub trait Evaluator: Send + Sync {
    /// Encrypted request bytes in, encrypted result bytes out.
    fn evaluate(&self, request: &[u8]) -> Result<Vec<u8>, FheError>;
}
