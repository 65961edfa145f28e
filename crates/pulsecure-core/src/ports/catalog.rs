//! Model catalog port: the model a stored screening was made with, by id and version.
//!
//! Stored screenings are bound to their model; reading their features (labels in history
//! and export, the age in statistics) must go through *that* model, not the active one.

use std::sync::Arc;

use thiserror::Error;

use crate::domain::equation_model::EquationModel;
use crate::domain::model::Model;

/// Why a model could not be provided.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum CatalogError {
    /// Neither embedded nor installed here.
    #[error("model {id} version {version} is not available on this installation")]
    Unknown {
        /// Model id.
        id: String,
        /// Version.
        version: u64,
    },
    /// Present but failed verification or could not be read.
    #[error("model {id} version {version} could not be loaded: {reason}")]
    Unusable {
        /// Model id.
        id: String,
        /// Version.
        version: u64,
        /// What failed (no patient data).
        reason: String,
    },
}

/// Resolves verified models by id and version.
pub trait ModelCatalog: Send + Sync {
    /// The verified model `id` at `version`.
    fn model(&self, id: &str, version: u64) -> Result<Arc<Model>, CatalogError>;

    /// The verified schema-2 (equation) model `id` at `version`. A catalog that holds no
    /// equation models (the default) knows none.
    fn equation(&self, id: &str, version: u64) -> Result<Arc<EquationModel>, CatalogError> {
        Err(CatalogError::Unknown {
            id: id.to_string(),
            version,
        })
    }
}
