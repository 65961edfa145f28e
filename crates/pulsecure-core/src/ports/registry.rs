//! Model anti-rollback state port.

use crate::ports::store::StoreError;

/// The highest accepted release of one model id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedModel {
    /// Model id.
    pub model_id: String,
    /// Highest version accepted so far.
    pub version: u64,
    /// Hex SHA-256 of that version's model.json.
    pub sha256: String,
}

/// Remembers, per model id, the highest version accepted and its content hash.
pub trait ModelRegistry: Send + Sync {
    /// The current record for `model_id`, if any.
    fn accepted(&self, model_id: &str) -> Result<Option<AcceptedModel>, StoreError>;
    /// Record a newly accepted release (only called after the rollback check passed).
    fn record(&self, model: &AcceptedModel) -> Result<(), StoreError>;
}
