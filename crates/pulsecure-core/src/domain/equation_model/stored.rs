//! A published-equation patient as a screening row stores it (one number per input, in the
//! model's order; a choice input as the position of its level), and back.
//!
//! The way back exists for the job queue: a queued screening keeps its values in the sealed
//! local database until its encrypted result returns, and the result is checked against the
//! reference engine on exactly those values. They are checked again on the way back, as any
//! patient's values are, instead of being trusted because they were written here.

use std::collections::BTreeMap;

use thiserror::Error;

use super::EquationModel;
use crate::domain::equation::{InputError, InputKind, InputValue, Inputs};

/// Why stored values do not give back a patient of this model. Never holds a value.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum StoredInputsError {
    /// Not one value per input of the model.
    #[error("{found} stored values for a model with {expected} inputs")]
    Count {
        /// The model's inputs.
        expected: usize,
        /// Values stored.
        found: usize,
    },
    /// A choice input's stored position is not one of its levels.
    #[error("`{field}` is not stored as one of its levels")]
    Level {
        /// The input's name.
        field: String,
    },
    /// The values fail the model's input check.
    #[error(transparent)]
    Input(#[from] InputError),
}

impl EquationModel {
    /// `inputs` as a screening row stores them: every input in the model's order, a choice
    /// input as the position of its level.
    pub fn stored_values(&self, inputs: &Inputs) -> Vec<f64> {
        self.equation()
            .inputs
            .iter()
            .map(|spec| match &spec.kind {
                InputKind::Choice { levels } => inputs
                    .level(&spec.name)
                    .and_then(|l| levels.iter().position(|x| x == l))
                    .map_or(f64::NAN, |p| p as f64),
                _ => inputs.number(&spec.name).unwrap_or(f64::NAN),
            })
            .collect()
    }

    /// The checked inputs that [`EquationModel::stored_values`] wrote `values` for.
    pub fn inputs_from_stored(&self, values: &[f64]) -> Result<Inputs, StoredInputsError> {
        let specs = &self.equation().inputs;
        if values.len() != specs.len() {
            return Err(StoredInputsError::Count {
                expected: specs.len(),
                found: values.len(),
            });
        }
        let mut given = BTreeMap::new();
        for (spec, &value) in specs.iter().zip(values) {
            let value = match &spec.kind {
                InputKind::Choice { levels } => {
                    let level = (value >= 0.0 && value.fract() == 0.0)
                        .then(|| levels.get(value as usize))
                        .flatten()
                        .ok_or_else(|| StoredInputsError::Level {
                            field: spec.name.clone(),
                        })?;
                    InputValue::Level(level.clone())
                }
                _ => InputValue::Number(value),
            };
            given.insert(spec.name.clone(), value);
        }
        Ok(self.equation().check(&given)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prevent() -> EquationModel {
        EquationModel::from_json(include_str!(
            "../../../../../models/prevent-cvd-10y/v2/model.json"
        ))
        .expect("the release parses")
    }

    fn pce() -> EquationModel {
        EquationModel::from_json(include_str!(
            "../../../../../models/pce-ascvd-10y/v1/model.json"
        ))
        .expect("the release parses")
    }

    /// Every input in the model's order, a choice as its level's position: the first
    /// level of each choice and the middle of each range.
    fn some_values(model: &EquationModel) -> Vec<f64> {
        model
            .equation()
            .inputs
            .iter()
            .map(|spec| match &spec.kind {
                InputKind::Number { min, max, .. } => (min + max) / 2.0,
                InputKind::Binary => 1.0,
                InputKind::Choice { levels } => (levels.len() - 1) as f64,
            })
            .collect()
    }

    #[test]
    fn stored_values_come_back_as_the_same_inputs() {
        for model in [prevent(), pce()] {
            let values = some_values(&model);
            let inputs = model.inputs_from_stored(&values).expect("valid values");
            assert_eq!(model.stored_values(&inputs), values, "{}", model.id());
            assert_eq!(
                model.run(&inputs).acc,
                model
                    .run(&model.inputs_from_stored(&values).expect("valid"))
                    .acc
            );
        }
    }

    #[test]
    fn stored_values_of_another_shape_are_refused_without_values() {
        let model = pce();
        let mut values = some_values(&model);
        values.pop();
        assert!(matches!(
            model.inputs_from_stored(&values),
            Err(StoredInputsError::Count { .. })
        ));
        let mut values = some_values(&model);
        let choice = model
            .equation()
            .inputs
            .iter()
            .position(|s| matches!(s.kind, InputKind::Choice { .. }))
            .expect("the PCE has a choice input");
        for bad in [99.0, -1.0, 0.5, f64::NAN] {
            values[choice] = bad;
            let err = model.inputs_from_stored(&values).expect_err("not a level");
            assert!(matches!(err, StoredInputsError::Level { .. }), "{err}");
            assert!(!err.to_string().contains("99"), "{err}");
        }
        let mut values = some_values(&model);
        let number = model
            .equation()
            .inputs
            .iter()
            .position(|s| matches!(s.kind, InputKind::Number { .. }))
            .expect("a number input");
        values[number] = 1.0e9;
        assert!(matches!(
            model.inputs_from_stored(&values),
            Err(StoredInputsError::Input(InputError::OutOfRange { .. }))
        ));
    }
}
