//! The result of one screening, as the clinician sees it.

use serde::{Deserialize, Serialize};

/// Screening outcome relative to the model's clinical threshold (tuned for high recall).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskClass {
    /// Below the threshold: no follow-up suggested by this screening aid.
    Low,
    /// At or above the threshold: refer for clinical assessment.
    High,
}

impl RiskClass {
    /// Class from the decrypted (or reference) boolean.
    pub fn from_high(high: bool) -> Self {
        if high {
            RiskClass::High
        } else {
            RiskClass::Low
        }
    }

    /// Stable lower-case label used in CSV/JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskClass::Low => "low",
            RiskClass::High => "high",
        }
    }
}

/// A calibrated probability and risk class produced by a specific model version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RiskAssessment {
    /// Calibrated probability in units of 1 / `probability_scale` (4096).
    pub probability_code: u32,
    /// The same probability as a fraction in [0, 1].
    pub probability: f64,
    /// Class at the model's threshold.
    pub class: RiskClass,
    /// Model that produced it.
    pub model_id: String,
    /// Version of that model.
    pub model_version: u64,
}
