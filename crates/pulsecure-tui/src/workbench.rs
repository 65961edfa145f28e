//! The port the TUI drives: what the binary must provide (unlock a vault, screen, read the
//! history, DP releases, key facts). Implemented over the real adapters by `pulsecure-app`
//! and by fakes in the tests. Every method may be slow: only the worker thread calls them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use pulsecure_core::domain::analytics::Query;
use pulsecure_core::domain::eligibility::NotEligible;
use pulsecure_core::domain::equation::InputValue;
use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::ports::privacy::BudgetStatus;
use pulsecure_core::usecase::analytics::Release;
use pulsecure_core::usecase::inference::{Screening, Stage};
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
    /// The risk as the row's model reads it (`8.3 %`, `< 1 %`); `-` when not eligible.
    pub risk_text: String,
    /// cvd-lr: `low`/`high`; a published equation: its category; `not eligible`.
    pub label: String,
    /// The row's class at its model's threshold (a published equation: `High` in its top
    /// category); `None` for a not-eligible row (no result).
    pub class: Option<RiskClass>,
    /// `id v<version>` of the model used.
    pub model: String,
    /// The entered values as `(feature, value as read)`, labelled through the model that
    /// made the screening (shown when the entry is opened); for a not-eligible row, the
    /// reason instead.
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

/// A model the entry form can screen with.
#[derive(Clone, Debug)]
pub enum ModelChoice {
    /// The active `cvd-lr` release ([`Workbench::model`]).
    CvdLr,
    /// Published equations screened together from one form: `prevent` (10-year total CVD
    /// and ASCVD) or one equation such as `pce-ascvd-10y`.
    Equations {
        /// The `--model` selector the CLI would take.
        selector: String,
        /// What the form's title calls it.
        label: String,
        /// The verified releases, in output order.
        models: Vec<Arc<EquationModel>>,
    },
}

impl ModelChoice {
    /// The title the form shows.
    pub fn label(&self, cvd_lr: &pulsecure_core::Model) -> String {
        match self {
            ModelChoice::CvdLr => format!(
                "{} v{} (NHANES screening model)",
                cvd_lr.id(),
                cvd_lr.version()
            ),
            ModelChoice::Equations { label, .. } => label.clone(),
        }
    }
}

/// One published equation's answer for the patient, as the result screen shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct EquationVerdict {
    /// Model id.
    pub model_id: String,
    /// Its version.
    pub model_version: u64,
    /// The estimate, or why there is none.
    pub outcome: EquationVerdictKind,
    /// An earlier screening of this reference was found stored and is shown (nothing new
    /// was encrypted or stored for this model).
    pub stored_earlier: bool,
}

/// An estimate or a not-eligible decision.
#[derive(Clone, Debug, PartialEq)]
pub enum EquationVerdictKind {
    /// Screened under encryption, checked against the reference engine, stored.
    Screened {
        /// 10-year risk, 0–1.
        probability: f64,
        /// As clinicians read it (`8.3 %`).
        risk_text: String,
        /// `low`, `borderline`, `intermediate` or `high`.
        category: String,
        /// The model's category bands: name and upper bound (0–1; the last has none).
        bands: Vec<(String, Option<f64>)>,
    },
    /// No estimate; nothing was encrypted.
    NotEligible {
        /// Why.
        reason: String,
    },
}

/// A finished published-equation screening.
#[derive(Clone, Debug, PartialEq)]
pub struct EquationScreening {
    /// One verdict per model of the choice.
    pub verdicts: Vec<EquationVerdict>,
    /// Time spent evaluating under encryption, over all models.
    pub evaluate: Duration,
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

    /// The published equations this session can screen with, as form choices (the CLI's
    /// `--model` selectors); empty when none is available.
    fn equation_choices(&self) -> Vec<ModelChoice>;

    /// Screen one patient with every model of the choice `selector` (its inputs by name,
    /// plus `known_cvd`): intake, encryption, the result check and storage, storing nothing
    /// if `keep()` turned false meanwhile.
    fn screen_equations(
        &self,
        selector: &str,
        patient_ref: &PatientRef,
        values: &BTreeMap<String, InputValue>,
        progress: &mut dyn FnMut(Stage),
        keep: &dyn Fn() -> bool,
    ) -> Result<EquationScreening, TuiError>;

    /// Store that a cvd-lr patient is outside the active model's population (known CVD,
    /// or an age outside its range): nothing is encrypted or sent. One not-eligible verdict.
    fn record_not_eligible(
        &self,
        patient_ref: &PatientRef,
        why: &NotEligible,
    ) -> Result<EquationScreening, TuiError>;

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
