//! One clinical input of a model: name, unit, plausible range, clamp range and code width.

use serde::{Deserialize, Serialize};

/// Whether a feature is a measurement or a yes/no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureKind {
    /// A measured quantity in `unit` (age, blood pressure, a lab value).
    Continuous,
    /// A yes/no answer encoded 1 = yes, 0 = no.
    Binary,
}

/// A model input as declared in `model.json`.
///
/// `plausible_min..=plausible_max` is the validation range: a value outside it is treated as a
/// data-entry error and refused. `clamp_min..=clamp_max` (inside the plausible range) is the
/// training range used for quantization: values beyond it are clamped, not refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    /// Column / field name, e.g. `systolic_bp`.
    pub name: String,
    /// Unit shown to the clinician, e.g. `mmHg`.
    pub unit: String,
    /// Measurement or yes/no.
    pub kind: FeatureKind,
    /// Human description.
    pub description: String,
    /// Smallest accepted value.
    pub plausible_min: f64,
    /// Largest accepted value.
    pub plausible_max: f64,
    /// Lower end of the quantization range.
    pub clamp_min: f64,
    /// Upper end of the quantization range.
    pub clamp_max: f64,
    /// Width of the quantized code in bits (1 for binary features).
    pub bits: u32,
}

impl FeatureSpec {
    /// Largest code value, `2^bits - 1`.
    pub fn max_code(&self) -> u32 {
        (1u32 << self.bits) - 1
    }

    /// Human-readable allowed range, used in error messages and `--help`.
    pub fn allowed_range(&self) -> String {
        match self.kind {
            FeatureKind::Binary => "0 (no) or 1 (yes)".to_string(),
            FeatureKind::Continuous => format!(
                "{} to {} {}",
                self.plausible_min, self.plausible_max, self.unit
            ),
        }
    }
}
