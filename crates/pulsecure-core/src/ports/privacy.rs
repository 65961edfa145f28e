//! Differential-privacy ports: a noise mechanism and a persistent ε ledger.

use thiserror::Error;

/// Privacy failures.
#[derive(Debug, Error, PartialEq)]
pub enum PrivacyError {
    /// ε must be finite and positive.
    #[error("epsilon must be a finite number > 0")]
    InvalidEpsilon,
    /// The release would exceed the remaining budget; nothing was spent.
    #[error("privacy budget exceeded: requested ε = {requested}, remaining ε = {remaining}")]
    BudgetExceeded {
        /// ε asked for.
        requested: f64,
        /// ε left.
        remaining: f64,
    },
    /// No data to release about.
    #[error("the dataset is empty")]
    EmptyDataset,
    /// The mechanism could not be built or run.
    #[error("privacy mechanism failed: {0}")]
    Mechanism(String),
    /// The ledger could not be read or written.
    #[error("budget ledger failure: {0}")]
    Ledger(String),
}

/// Adds calibrated noise to a count.
pub trait PrivacyMechanism: Send + Sync {
    /// ε-DP noisy count (sensitivity 1). Returns the release and the ε it really spends.
    fn noisy_count(&self, true_count: u64, epsilon: f64) -> Result<(f64, f64), PrivacyError>;
}

/// Atomic, persistent ε accounting.
pub trait BudgetLedger: Send + Sync {
    /// Check and spend `epsilon` for `query` in one atomic step, or refuse with nothing spent.
    fn try_spend(&self, query: &str, epsilon: f64) -> Result<(), PrivacyError>;
    /// ε still available.
    fn remaining(&self) -> Result<f64, PrivacyError>;
}
