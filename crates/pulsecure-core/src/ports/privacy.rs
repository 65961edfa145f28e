//! Differential-privacy ports: the noise mechanism and the persistent ε ledger.

use thiserror::Error;

use crate::domain::analytics::{Dataset, Query, QueryError};
use crate::ports::catalog::CatalogError;
use crate::ports::store::StoreError;

/// Privacy failures. None of them spends any ε.
#[derive(Debug, Error, PartialEq)]
pub enum PrivacyError {
    /// ε must be finite and positive.
    #[error("epsilon must be a finite number > 0")]
    InvalidEpsilon,
    /// The release would exceed the remaining budget; nothing was spent, no noise drawn.
    #[error("privacy budget exceeded: this release costs ε = {requested}, only ε = {remaining} remains; nothing was spent")]
    BudgetExceeded {
        /// ε the release costs.
        requested: f64,
        /// ε left.
        remaining: f64,
    },
    /// No screenings to release statistics about.
    #[error("the dataset is empty: no screenings are stored")]
    EmptyDataset,
    /// The query itself is invalid.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A stored screening could not be read (kept typed: a corrupt row is an integrity
    /// failure, not a storage outage).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The model a stored screening was made with is not available.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A stored screening's model has no feature the query reads.
    #[error("model {model} has no `{feature}` feature, which this query reads")]
    MissingFeature {
        /// `id vVERSION` of the row's model.
        model: String,
        /// The feature name.
        feature: &'static str,
    },
    /// A total budget that is not finite and positive.
    #[error("the total budget must be a finite number > 0")]
    InvalidBudget,
    /// The mechanism could not be built or run.
    #[error("privacy mechanism failed: {0}")]
    Mechanism(String),
    /// The ledger could not be read or written.
    #[error("budget ledger failure: {0}")]
    Ledger(String),
}

/// Builds and runs ε-DP measurements. `cost` builds the measurement without drawing noise.
pub trait PrivacyMechanism: Send + Sync {
    /// The ε a release of `query` at requested `epsilon` really costs (the measurement's
    /// privacy map), before any noise is drawn.
    fn cost(&self, query: &Query, epsilon: f64) -> Result<f64, PrivacyError>;
    /// Run the release on `data`: one noisy value per output (see [`Query::outputs`]).
    fn release(
        &self,
        query: &Query,
        epsilon: f64,
        data: &Dataset,
    ) -> Result<Vec<f64>, PrivacyError>;
}

/// One recorded release.
#[derive(Clone, Debug, PartialEq)]
pub struct LedgerEntry {
    /// Ledger row id.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// Query key (name and parameters).
    pub query: String,
    /// ε charged.
    pub epsilon: f64,
    /// Snapshot of the data the release was computed on.
    pub data_version: String,
    /// The released values, if the release completed.
    pub result: Option<Vec<f64>>,
}

/// Total, spent and remaining ε.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetStatus {
    /// Lifetime total.
    pub total: f64,
    /// Sum of all charges.
    pub spent: f64,
    /// `total - spent` (never negative).
    pub remaining: f64,
}

/// Atomic, persistent ε accounting.
pub trait BudgetLedger: Send + Sync {
    /// Check and spend `epsilon` for `query` on `data_version` in one atomic step (a new
    /// ledger entry), or refuse with nothing spent.
    fn try_spend(&self, query: &str, data_version: &str, epsilon: f64)
        -> Result<i64, PrivacyError>;
    /// Store the released values of entry `id`.
    fn record_result(&self, id: i64, result: &[f64]) -> Result<(), PrivacyError>;
    /// A completed release of `query` over `data_version` (re-asking costs nothing).
    fn find(&self, query: &str, data_version: &str) -> Result<Option<LedgerEntry>, PrivacyError>;
    /// The budget.
    fn status(&self) -> Result<BudgetStatus, PrivacyError>;
    /// Every entry, oldest first.
    fn entries(&self) -> Result<Vec<LedgerEntry>, PrivacyError>;
}
