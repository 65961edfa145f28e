//! The inputs of a published equation and the check of a patient's values against them.
//!
//! Errors name the field and what was expected — the published range and unit, the levels —
//! never the value, and an unexpected field by its position, never its text (a column header
//! can hold a name).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What kind of value an input takes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum InputKind {
    /// A measurement with its unit and the published valid range (inclusive).
    Number {
        /// Unit, as forms and errors show it (e.g. `mg/dL`).
        unit: String,
        /// Smallest valid value.
        min: f64,
        /// Largest valid value.
        max: f64,
    },
    /// A yes/no answer: 0 or 1.
    Binary,
    /// One of a fixed set of levels (e.g. sex: `female`, `male`).
    Choice {
        /// The accepted levels.
        levels: Vec<String>,
    },
}

/// One declared input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Name, as batch columns and forms use it.
    pub name: String,
    /// Its kind, unit and range.
    pub kind: InputKind,
}

impl InputSpec {
    pub(super) fn validate(&self) -> Result<(), String> {
        match &self.kind {
            InputKind::Number { min, max, .. } if !(min.is_finite() && max.is_finite()) => {
                Err("the range must be finite".into())
            }
            InputKind::Number { min, max, .. } if min > max => Err("min is above max".into()),
            InputKind::Choice { levels } if levels.is_empty() => {
                Err("a choice needs at least one level".into())
            }
            _ => Ok(()),
        }
    }
}

/// A patient's raw value for one input: a number (binary answers as 0/1) or a level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum InputValue {
    /// A number.
    Number(f64),
    /// A level of a choice input.
    Level(String),
}

/// Why a patient's values were refused. Never holds a value.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum InputError {
    /// A declared input is absent.
    #[error("`{field}` is missing")]
    Missing {
        /// The input's name.
        field: String,
    },
    /// A value was given that the equation does not read.
    #[error("field #{position} is not an input of this model (expected one of: {expected})")]
    Unexpected {
        /// 1-based position among the given fields, in name order.
        position: usize,
        /// The declared inputs.
        expected: String,
    },
    /// A number outside the published valid range.
    #[error("`{field}` must be between {min} and {max} {unit} (the equation's published range)")]
    OutOfRange {
        /// The input's name.
        field: String,
        /// Smallest valid value, as text.
        min: String,
        /// Largest valid value, as text.
        max: String,
        /// Unit.
        unit: String,
    },
    /// A yes/no answer that is not 0 or 1.
    #[error("`{field}` must be 0 or 1")]
    NotBinary {
        /// The input's name.
        field: String,
    },
    /// A level that is not one of the declared ones.
    #[error("`{field}` must be one of: {levels}")]
    NotALevel {
        /// The input's name.
        field: String,
        /// The accepted levels.
        levels: String,
    },
}

/// Values checked against an equation's inputs (see [`super::Equation::check`]).
#[derive(Clone, PartialEq)]
pub struct Inputs {
    numbers: BTreeMap<String, f64>,
    levels: BTreeMap<String, String>,
}

impl std::fmt::Debug for Inputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inputs")
            .field("values", &"<redacted>")
            .finish()
    }
}

impl Inputs {
    pub(super) fn checked(
        specs: &[InputSpec],
        values: &BTreeMap<String, InputValue>,
    ) -> Result<Self, InputError> {
        if let Some(position) = values
            .keys()
            .position(|k| !specs.iter().any(|s| &s.name == k))
        {
            let expected = specs
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(InputError::Unexpected {
                position: position + 1,
                expected,
            });
        }
        let mut inputs = Inputs {
            numbers: BTreeMap::new(),
            levels: BTreeMap::new(),
        };
        for spec in specs {
            let field = || spec.name.clone();
            let value = values
                .get(&spec.name)
                .ok_or_else(|| InputError::Missing { field: field() })?;
            match (&spec.kind, value) {
                (InputKind::Number { unit, min, max }, InputValue::Number(x)) => {
                    if !(x.is_finite() && min <= x && x <= max) {
                        return Err(InputError::OutOfRange {
                            field: field(),
                            min: min.to_string(),
                            max: max.to_string(),
                            unit: unit.clone(),
                        });
                    }
                    inputs.numbers.insert(field(), *x);
                }
                (InputKind::Binary, InputValue::Number(x)) if *x == 0.0 || *x == 1.0 => {
                    inputs.numbers.insert(field(), *x);
                }
                (InputKind::Binary, _) => return Err(InputError::NotBinary { field: field() }),
                (InputKind::Choice { levels }, InputValue::Level(level))
                    if levels.contains(level) =>
                {
                    inputs.levels.insert(field(), level.clone());
                }
                (InputKind::Choice { levels }, _) => {
                    return Err(InputError::NotALevel {
                        field: field(),
                        levels: levels.join(", "),
                    })
                }
                (InputKind::Number { unit, min, max }, InputValue::Level(_)) => {
                    return Err(InputError::OutOfRange {
                        field: field(),
                        min: min.to_string(),
                        max: max.to_string(),
                        unit: unit.clone(),
                    })
                }
            }
        }
        Ok(inputs)
    }

    /// A numeric or binary input's value.
    pub fn number(&self, name: &str) -> Option<f64> {
        self.numbers.get(name).copied()
    }

    /// A choice input's level.
    pub fn level(&self, name: &str) -> Option<&str> {
        self.levels.get(name).map(String::as_str)
    }

    pub(super) fn choices(&self) -> BTreeMap<&str, &str> {
        self.levels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}
