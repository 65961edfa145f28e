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

impl RiskAssessment {
    /// The probability as a clinician should read it: whole percent, with the table's lowest
    /// levels shown as "< 1 %" and the highest as "> 99 %" — never "0 %" or "0.000", which
    /// would claim a certainty no screening model has (v1's lowest calibrated level is 0).
    pub fn risk_text(&self) -> String {
        risk_text(self.probability)
    }
}

/// See [`RiskAssessment::risk_text`].
pub fn risk_text(probability: f64) -> String {
    let percent = probability * 100.0;
    if percent < 1.0 {
        "< 1 %".to_string()
    } else if percent > 99.0 {
        "> 99 %".to_string()
    } else {
        format!("{percent:.0} %")
    }
}

/// A published equation's risk as clinicians read it: one decimal of a percentage point
/// (`8.3 %`); below 0.1 % reads "< 0.1 %", never "0.0 %".
pub fn equation_risk_text(probability: f64) -> String {
    let percent = probability * 100.0;
    if percent < 0.05 {
        "< 0.1 %".to_string()
    } else {
        format!("{percent:.1} %")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_text_never_reads_zero() {
        assert_eq!(risk_text(0.0), "< 1 %");
        assert_eq!(risk_text(29.0 / 4096.0), "< 1 %");
        assert_eq!(risk_text(0.0104), "1 %");
        assert_eq!(risk_text(0.652), "65 %");
        assert_eq!(risk_text(0.999), "> 99 %");
    }

    #[test]
    fn equation_risk_text_has_one_decimal_and_never_reads_zero() {
        assert_eq!(equation_risk_text(0.0834), "8.3 %");
        assert_eq!(equation_risk_text(0.2), "20.0 %");
        assert_eq!(equation_risk_text(0.0004), "< 0.1 %");
        assert_eq!(equation_risk_text(0.0), "< 0.1 %");
    }
}
