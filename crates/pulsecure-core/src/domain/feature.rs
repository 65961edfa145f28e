//! One clinical input of a model: name, unit, plausible range, clamp range and code width.

use serde::{Deserialize, Serialize};

/// Whether a feature is a measurement, a yes/no answer or one of a few ordered answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureKind {
    /// A measured quantity in `unit` (age, blood pressure, a lab value).
    Continuous,
    /// A yes/no answer encoded 1 = yes, 0 = no.
    Binary,
    /// A whole-number answer from `plausible_min` to `plausible_max`, each labelled in
    /// `answers` (e.g. self-rated health, 1 = excellent or very good ... 4 = poor). Added with
    /// model v2; a v1 file has none.
    Ordinal,
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
    /// Labels of an ordinal feature's answers, from `plausible_min` upwards; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<String>,
    /// When set, the answer counts only if another feature's value is at least a threshold;
    /// otherwise it is taken as `clamp_min` before quantization (v2's chest-pain item counts
    /// from age 40, as in the survey the model learnt from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts_from: Option<CountsFrom>,
}

/// The condition under which a feature's answer counts (see [`FeatureSpec::counts_from`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountsFrom {
    /// The feature whose value decides, e.g. `age`.
    pub feature: String,
    /// The answer counts when that feature's value is at least this.
    pub at_least: f64,
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
            FeatureKind::Ordinal => {
                let listed: Vec<String> = self
                    .answers
                    .iter()
                    .enumerate()
                    .map(|(i, label)| format!("{} ({label})", self.plausible_min + i as f64))
                    .collect();
                listed.join(", ")
            }
        }
    }

    /// The label of an ordinal answer, or `None` when `value` is not one of its answers.
    pub fn answer_label(&self, value: f64) -> Option<&str> {
        if self.kind != FeatureKind::Ordinal || value.fract() != 0.0 {
            return None;
        }
        let offset = value - self.plausible_min;
        if offset < 0.0 {
            return None;
        }
        self.answers.get(offset as usize).map(String::as_str)
    }

    /// The value as a clinician reads it: "yes"/"no", the answer's label, or number and unit.
    pub fn display_value(&self, value: f64) -> String {
        match self.kind {
            FeatureKind::Binary if value >= 0.5 => "yes".to_string(),
            FeatureKind::Binary => "no".to_string(),
            FeatureKind::Ordinal => match self.answer_label(value) {
                Some(label) => format!("{value} ({label})"),
                None => format!("{value}"),
            },
            FeatureKind::Continuous => format!("{value} {}", self.unit),
        }
    }
}
