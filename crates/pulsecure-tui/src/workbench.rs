//! The port the TUI drives: what the binary must provide (unlock a vault, screen, read the
//! history, DP releases, key facts). Implemented over the real adapters by `pulsecure-app`
//! and by fakes in the tests. Every method may be slow: only the worker thread calls them.

use std::sync::Arc;

use pulsecure_core::app::analytics::Release;
use pulsecure_core::app::inference::{Screening, Stage};
use pulsecure_core::domain::analytics::Query;
use pulsecure_core::ports::privacy::BudgetStatus;
use pulsecure_core::{Model, PatientFeatures, PatientRef, RiskClass};
use secrecy::SecretString;
use thiserror::Error;

/// A failed operation, with a message fit to show (never a patient value or key byte).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct TuiError(pub String);

/// Why an unlock failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum UnlockError {
    /// The password does not open the vault (counts toward the retry limit).
    #[error("wrong password")]
    WrongPassword,
    /// Anything else (no vault, damaged file, unreadable database): retrying will not help.
    #[error("{0}")]
    Other(String),
}

/// Opens a session from a password.
pub trait Unlocker: Send + Sync {
    /// Unlock the vault; slow on purpose (Argon2id) and loads the server key.
    fn unlock(&self, password: SecretString) -> Result<Arc<dyn Workbench>, UnlockError>;
}

/// One stored screening as the history screen lists it.
#[derive(Clone, PartialEq)]
pub struct HistoryEntry {
    /// Database id.
    pub id: i64,
    /// Pseudonymous patient reference.
    pub patient_ref: String,
    /// When it was screened, formatted for display (UTC).
    pub when: String,
    /// Calibrated probability in [0, 1].
    pub probability: f64,
    /// Risk class.
    pub class: RiskClass,
    /// `id v<version>` of the model used.
    pub model: String,
    /// The entered values as `(feature, value as read)`, labelled through the model that
    /// made the screening (shown when the entry is opened).
    pub features: Vec<(String, String)>,
}

impl std::fmt::Debug for HistoryEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryEntry")
            .field("id", &self.id)
            .field("values", &"<redacted>")
            .finish()
    }
}

/// An unlocked session: every operation the screens need.
pub trait Workbench: Send + Sync {
    /// The active (verified) model.
    fn model(&self) -> &Model;

    /// Screen one patient under encryption and store the result unless `keep()` turned false
    /// meanwhile (the user cancelled). `progress` is called as each stage starts.
    fn screen(
        &self,
        patient_ref: &PatientRef,
        patient: &PatientFeatures,
        progress: &mut dyn FnMut(Stage),
        keep: &dyn Fn() -> bool,
    ) -> Result<Screening, TuiError>;

    /// Stored screenings, newest first.
    fn history(&self) -> Result<Vec<HistoryEntry>, TuiError>;

    /// The ε a release would cost, without drawing noise, and the budget now.
    fn quote(&self, query: &Query, epsilon: f64) -> Result<(f64, BudgetStatus), TuiError>;

    /// Spend the budget and release `query` (or return the recorded answer for free).
    fn release(&self, query: &Query, epsilon: f64) -> Result<Release, TuiError>;

    /// The lifetime budget.
    fn budget(&self) -> Result<BudgetStatus, TuiError>;

    /// Key and model facts to show: label, value (fingerprints, ids, paths; no secrets).
    fn key_info(&self) -> Result<Vec<(String, String)>, TuiError>;
}
