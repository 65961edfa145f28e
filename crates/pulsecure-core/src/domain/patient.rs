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
    /// A field the model does not know, named by its position in the input only: an
    /// unexpected name may be patient data typed in the wrong place (a name, a date of birth,
    /// an NHS number), so it is never echoed.
    #[error("unknown field #{position} (expected one of: {expected})")]
    Unknown {
        /// 1-based position of the field in the input (see [`GivenField::position`]).
        position: usize,
        /// Comma-separated list of the model's features.
        expected: String,
    },
    /// A feature given more than once (the value meant is ambiguous).
    #[error("field #{position} repeats `{field}` (already field #{first})")]
    Repeated {
        /// The model's feature name.
        field: String,
        /// 1-based position of the repetition.
        position: usize,
        /// 1-based position of the first occurrence.
        first: usize,
    },
}

impl PatientError {
    /// The model's feature the error is about; `None` for an unknown field, which has no
    /// name that may be shown (see [`PatientError::position`]).
    pub fn field(&self) -> Option<&str> {
        match self {
            PatientError::Missing { field, .. }
            | PatientError::NotFinite { field, .. }
            | PatientError::OutOfRange { field, .. }
            | PatientError::NotBinary { field, .. }
            | PatientError::NotAnAnswer { field, .. }
            | PatientError::Repeated { field, .. } => Some(field),
            PatientError::Unknown { .. } => None,
        }
    }

    /// The 1-based input position the error is about, for an unknown or repeated field.
    pub fn position(&self) -> Option<usize> {
        match self {
            PatientError::Unknown { position, .. } | PatientError::Repeated { position, .. } => {
                Some(*position)
            }
            _ => None,
        }
    }

    /// The unknown field at `position` of an input validated against `specs`.
    pub fn unknown(specs: &[FeatureSpec], position: usize) -> Self {
        PatientError::Unknown {
            position,
            expected: specs
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// One value as the input gave it: its 1-based position among the input's fields (a JSON
/// object's keys in the order written, a CSV column, a `--value` argument), its name and
/// its value. The position is what errors show for a name the model does not know.
///
/// `Debug` is redacted: the name may be anything and the value is patient data.
#[derive(Clone, PartialEq)]
pub struct GivenField {
    /// 1-based position in the input.
    pub position: usize,
    /// The name as given.
    pub name: String,
    /// The value.
    pub value: f64,
}

impl std::fmt::Debug for GivenField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GivenField")
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl GivenField {
    /// The entries of `named` as given fields, numbered in name order (for inputs that
    /// have no order of their own).
    pub fn in_name_order(named: &BTreeMap<String, f64>) -> Vec<GivenField> {
        named
            .iter()
            .enumerate()
            .map(|(i, (name, &value))| GivenField {
                position: i + 1,
                name: name.clone(),
                value,
            })
            .collect()
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
    /// plausible range, binary answers exactly 0 or 1, and no unknown names (an unknown
    /// name is reported by its position in name order: see [`PatientFeatures::from_given`]
    /// for inputs with an order of their own).
    pub fn new(specs: &[FeatureSpec], named: &BTreeMap<String, f64>) -> Result<Self, PatientError> {
        Self::from_given(specs, &GivenField::in_name_order(named))
    }

    /// Validate the fields of one input, in the order given: as [`PatientFeatures::new`],
    /// and a feature given twice is refused; errors name an unknown field by its position.
    pub fn from_given(specs: &[FeatureSpec], fields: &[GivenField]) -> Result<Self, PatientError> {
        VALIDATIONS.fetch_add(1, Ordering::Relaxed);
        let mut slots: Vec<Option<(usize, f64)>> = vec![None; specs.len()];
        for field in fields {
            let Some(index) = specs.iter().position(|s| s.name == field.name) else {
                return Err(PatientError::unknown(specs, field.position));
            };
            if let Some((first, _)) = slots[index] {
                return Err(PatientError::Repeated {
                    field: specs[index].name.clone(),
                    position: field.position,
                    first,
                });
            }
            slots[index] = Some((field.position, field.value));
        }
        let values = specs
            .iter()
            .zip(slots)
            .map(|(spec, slot)| {
                let (_, value) = slot.ok_or_else(|| PatientError::Missing {
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
            return Err(PatientError::unknown(specs, specs.len() + 1));
        }
        let given: Vec<GivenField> = specs
            .iter()
            .zip(values)
            .enumerate()
            .map(|(i, (s, &value))| GivenField {
                position: i + 1,
                name: s.name.clone(),
                value,
            })
            .collect();
        Self::from_given(specs, &given)
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
