//! A patient's clinical features, validated against a model's feature specifications.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use thiserror::Error;

use super::feature::{FeatureKind, FeatureSpec};

/// Why a patient's values were refused. Messages name the field and the allowed range but
/// never echo the value itself (patient data stays out of logs and error output).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PatientError {
    /// A required feature was not supplied.
    #[error("missing required field `{field}` (expected {allowed})")]
    Missing {
        /// Feature name.
        field: String,
        /// Allowed range.
        allowed: String,
    },
    /// NaN or an infinity.
    #[error("field `{field}` is not a finite number (expected {allowed})")]
    NotFinite {
        /// Feature name.
        field: String,
        /// Allowed range.
        allowed: String,
    },
    /// Outside the plausible range.
    #[error("field `{field}` is {side} the plausible range (expected {allowed})")]
    OutOfRange {
        /// Feature name.
        field: String,
        /// `below` or `above`.
        side: &'static str,
        /// Allowed range.
        allowed: String,
    },
    /// A yes/no feature with a value other than 0 or 1.
    #[error("field `{field}` must be a yes/no answer (expected {allowed})")]
    NotBinary {
        /// Feature name.
        field: String,
        /// Allowed range.
        allowed: String,
    },
    /// An ordinal feature with a value that is not one of its numbered answers.
    #[error("field `{field}` must be one of the numbered answers (expected {allowed})")]
    NotAnAnswer {
        /// Feature name.
        field: String,
        /// Allowed answers.
        allowed: String,
    },
    /// A field the model does not know.
    #[error("unknown field `{field}` (expected one of: {expected})")]
    Unknown {
        /// The unexpected name.
        field: String,
        /// Comma-separated list of the model's features.
        expected: String,
    },
}

impl PatientError {
    /// The field the error is about.
    pub fn field(&self) -> &str {
        match self {
            PatientError::Missing { field, .. }
            | PatientError::NotFinite { field, .. }
            | PatientError::OutOfRange { field, .. }
            | PatientError::NotBinary { field, .. }
            | PatientError::NotAnAnswer { field, .. }
            | PatientError::Unknown { field, .. } => field,
        }
    }
}

/// Validated clinical values, in the model's feature order.
///
/// `Debug` is redacted: values are patient data.
#[derive(Clone, PartialEq)]
pub struct PatientFeatures {
    values: Vec<f64>,
}

impl std::fmt::Debug for PatientFeatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatientFeatures")
            .field("values", &format_args!("<{} redacted>", self.values.len()))
            .finish()
    }
}

/// Validations run by this process (every constructor goes through `new`), so tests can hold a screening to
/// one validation of its patient.
static VALIDATIONS: AtomicUsize = AtomicUsize::new(0);

/// How many patients this process has validated.
pub fn validations_performed() -> usize {
    VALIDATIONS.load(Ordering::Relaxed)
}

impl PatientFeatures {
    /// Validate named values against `specs`: every feature present, finite, within its
    /// plausible range, binary answers exactly 0 or 1, and no unknown names.
    pub fn new(specs: &[FeatureSpec], named: &BTreeMap<String, f64>) -> Result<Self, PatientError> {
        VALIDATIONS.fetch_add(1, Ordering::Relaxed);
        if let Some(unknown) = named.keys().find(|k| !specs.iter().any(|s| &s.name == *k)) {
            return Err(PatientError::Unknown {
                field: unknown.clone(),
                expected: specs
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let values = specs
            .iter()
            .map(|spec| {
                let value =
                    named
                        .get(&spec.name)
                        .copied()
                        .ok_or_else(|| PatientError::Missing {
                            field: spec.name.clone(),
                            allowed: spec.allowed_range(),
                        })?;
                check_value(spec, value)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PatientFeatures { values })
    }

    /// Validate values given in model order (more values than features is an error, not a
    /// silent truncation: it means the values were written for another model).
    pub fn from_ordered(specs: &[FeatureSpec], values: &[f64]) -> Result<Self, PatientError> {
        if values.len() > specs.len() {
            return Err(PatientError::Unknown {
                field: format!("value {} (of {})", specs.len() + 1, values.len()),
                expected: specs
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let named = specs
            .iter()
            .zip(values)
            .map(|(s, &v)| (s.name.clone(), v))
            .collect();
        Self::new(specs, &named)
    }

    /// Values in model order.
    pub fn values(&self) -> &[f64] {
        &self.values
    }
}

/// Check one value against its specification.
pub fn check_value(spec: &FeatureSpec, value: f64) -> Result<f64, PatientError> {
    let allowed = || spec.allowed_range();
    if !value.is_finite() {
        return Err(PatientError::NotFinite {
            field: spec.name.clone(),
            allowed: allowed(),
        });
    }
    if spec.kind == FeatureKind::Binary && value != 0.0 && value != 1.0 {
        return Err(PatientError::NotBinary {
            field: spec.name.clone(),
            allowed: allowed(),
        });
    }
    if spec.kind == FeatureKind::Ordinal && value.fract() != 0.0 {
        return Err(PatientError::NotAnAnswer {
            field: spec.name.clone(),
            allowed: allowed(),
        });
    }
    if value < spec.plausible_min || value > spec.plausible_max {
        return Err(PatientError::OutOfRange {
            field: spec.name.clone(),
            side: if value < spec.plausible_min {
                "below"
            } else {
                "above"
            },
            allowed: allowed(),
        });
    }
    Ok(value)
}
