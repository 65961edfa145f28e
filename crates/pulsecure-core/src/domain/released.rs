//! One type for every released model, whatever its schema: the application, the signing
//! crate, the catalog and the evaluator handle releases through it and branch on the kind
//! only where the engines differ (the client's encoding, the circuit, the result check).
//!
//! `schema_version` 1 is the calibrated logistic regression (`cvd-lr`, [`Model`]); 2 is a
//! published risk equation with its integer pipeline ([`EquationModel`]). Both keep their
//! own full validation; this type only dispatches on the version and gives the identity.

use serde::Deserialize;

use crate::domain::equation_model::{EquationModel, EQUATION_SCHEMA_VERSION};
use crate::domain::model::{Model, ModelError};

/// The schema version of the calibrated logistic regression (`cvd-lr`).
pub const LOGISTIC_SCHEMA_VERSION: u32 = 1;

/// A validated release of any schema.
#[derive(Clone, Debug)]
pub enum ReleasedModel {
    /// Schema 1: the calibrated logistic regression with its 16-level table.
    Logistic(Model),
    /// Schema 2: a published equation (PREVENT, PCE) with its integer pipeline.
    Equation(EquationModel),
}

/// Only the field that says how to read the rest.
#[derive(Deserialize)]
struct SchemaPeek {
    schema_version: u32,
}

impl ReleasedModel {
    /// Parse and fully validate a `model.json` of either schema, chosen by its
    /// `schema_version`; another version is refused naming the ones this build reads.
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        let peek: SchemaPeek =
            serde_json::from_str(text).map_err(|e| ModelError::Malformed(e.to_string()))?;
        match peek.schema_version {
            LOGISTIC_SCHEMA_VERSION => Model::from_json(text).map(ReleasedModel::Logistic),
            EQUATION_SCHEMA_VERSION => EquationModel::from_json(text).map(ReleasedModel::Equation),
            found => Err(ModelError::UnsupportedSchema {
                found,
                expected: EQUATION_SCHEMA_VERSION,
            }),
        }
    }

    /// Model id (anti-rollback is per id).
    pub fn id(&self) -> &str {
        match self {
            ReleasedModel::Logistic(m) => m.id(),
            ReleasedModel::Equation(m) => m.id(),
        }
    }

    /// Release number.
    pub fn version(&self) -> u64 {
        match self {
            ReleasedModel::Logistic(m) => m.version(),
            ReleasedModel::Equation(m) => m.version(),
        }
    }

    /// The file's `schema_version`.
    pub fn schema_version(&self) -> u32 {
        match self {
            ReleasedModel::Logistic(_) => LOGISTIC_SCHEMA_VERSION,
            ReleasedModel::Equation(_) => EQUATION_SCHEMA_VERSION,
        }
    }

    /// The schema-1 model, if this is one.
    pub fn as_logistic(&self) -> Option<&Model> {
        match self {
            ReleasedModel::Logistic(m) => Some(m),
            ReleasedModel::Equation(_) => None,
        }
    }

    /// The schema-2 model, if this is one.
    pub fn as_equation(&self) -> Option<&EquationModel> {
        match self {
            ReleasedModel::Logistic(_) => None,
            ReleasedModel::Equation(m) => Some(m),
        }
    }

    /// The schema-1 model, or `None` when this release is another kind.
    pub fn into_logistic(self) -> Option<Model> {
        match self {
            ReleasedModel::Logistic(m) => Some(m),
            ReleasedModel::Equation(_) => None,
        }
    }
}

impl From<Model> for ReleasedModel {
    fn from(model: Model) -> Self {
        ReleasedModel::Logistic(model)
    }
}

impl From<EquationModel> for ReleasedModel {
    fn from(model: EquationModel) -> Self {
        ReleasedModel::Equation(model)
    }
}
