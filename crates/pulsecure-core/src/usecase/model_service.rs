//! `ModelService`: the anti-rollback decision for installing a model release.

use thiserror::Error;

use crate::ports::registry::{AcceptedModel, ModelRegistry};
use crate::ports::store::StoreError;

/// Why a release was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RollbackError {
    /// Older than the accepted release.
    #[error("model {model_id} version {offered} refused: version {accepted} is already installed (rollback)")]
    Older {
        /// Model id.
        model_id: String,
        /// Version offered.
        offered: u64,
        /// Version already accepted.
        accepted: u64,
    },
    /// Same version number, different bytes.
    #[error("model {model_id} version {version} refused: the installed release with this version has different content")]
    SameVersionDifferentContent {
        /// Model id.
        model_id: String,
        /// Version.
        version: u64,
    },
    /// The registry could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What installing did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstallOutcome {
    /// A newer version (or the first one) was recorded.
    Installed,
    /// This exact release was already installed.
    AlreadyInstalled,
}

/// Applies the anti-rollback rule against a [`ModelRegistry`].
pub struct ModelService<'a> {
    registry: &'a dyn ModelRegistry,
}

impl<'a> ModelService<'a> {
    /// Wire a registry.
    pub fn new(registry: &'a dyn ModelRegistry) -> Self {
        ModelService { registry }
    }

    /// Apply the rule without recording anything: `Installed` means the candidate is newer
    /// (or the first release of its id) and may be recorded once its files are in place.
    pub fn check(&self, candidate: &AcceptedModel) -> Result<InstallOutcome, RollbackError> {
        match self.registry.accepted(&candidate.model_id)? {
            Some(current) if candidate.version < current.version => Err(RollbackError::Older {
                model_id: candidate.model_id.clone(),
                offered: candidate.version,
                accepted: current.version,
            }),
            Some(current) if candidate.version == current.version => {
                if current.sha256 == candidate.sha256 {
                    Ok(InstallOutcome::AlreadyInstalled)
                } else {
                    Err(RollbackError::SameVersionDifferentContent {
                        model_id: candidate.model_id.clone(),
                        version: candidate.version,
                    })
                }
            }
            _ => Ok(InstallOutcome::Installed),
        }
    }

    /// Accept a higher version, re-accept the identical release, refuse anything else.
    pub fn install(&self, candidate: &AcceptedModel) -> Result<InstallOutcome, RollbackError> {
        let outcome = self.check(candidate)?;
        if outcome == InstallOutcome::Installed {
            self.registry.record(candidate)?;
        }
        Ok(outcome)
    }
}
