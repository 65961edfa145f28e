//! Screening storage port.

use thiserror::Error;

use crate::domain::assessment::RiskAssessment;
use crate::domain::equation_intake::IneligibleReason;
use crate::domain::patient_ref::PatientRef;

/// Storage failures, described without patient data.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum StoreError {
    /// The backing store refused or failed the operation.
    #[error("storage failure: {0}")]
    Backend(String),
    /// A stored row failed authentication or decoding.
    #[error("stored screening {id} is corrupt or was written with another key")]
    Corrupt {
        /// Row id.
        id: i64,
    },
    /// The database was created with another vault's data key.
    #[error("the database was created with a different vault's data key; refusing to use it")]
    WrongKey,
    /// Another process holds the database lock.
    #[error("the database is locked by another process; try again when it has finished")]
    Locked,
    /// A database written by a newer Pulsecure.
    #[error("database schema version {found} is newer than this build supports ({supported}); upgrade Pulsecure")]
    TooNew {
        /// Schema version in the file.
        found: i64,
        /// Newest schema this build knows.
        supported: i64,
    },
    /// This patient reference is already stored for this model version. The reference is
    /// not part of the message: errors reach logs.
    #[error("this patient reference is already stored for this model version")]
    Duplicate,
    /// No screening with this id.
    #[error("no screening with id {0}")]
    NotFound(i64),
    /// The database's security state (trusted keys, model anti-rollback state, privacy
    /// budget and ledger, audit log, screenings) fails its integrity record, is behind what
    /// the vault recorded, or the schema holds objects it does not define. The message names
    /// what was altered; it never holds patient data.
    #[error("integrity check failed: {0}; refusing to use the database (restore the data directory from a backup)")]
    Tampered(String),
}

/// Whether a row holds a result or a decision that the patient gets none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecordStatus {
    /// Screened under encryption and checked: the assessment is the result.
    #[default]
    Screened,
    /// No estimate (known CVD, age outside the equation): nothing was encrypted, and the
    /// assessment holds only the model id and version (probability 0, class low, never
    /// shown); the values are not stored (NaN).
    NotEligible(IneligibleReason),
}

impl RecordStatus {
    /// Stable label used in CSV/JSON output (`screened`, `not_eligible`).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Screened => "screened",
            RecordStatus::NotEligible(_) => "not_eligible",
        }
    }

    /// Whether the row holds a result.
    pub fn is_screened(self) -> bool {
        self == RecordStatus::Screened
    }
}

/// One stored screening: a pseudonymous reference, never a name.
#[derive(Clone, PartialEq)]
pub struct ScreeningRecord {
    /// Pseudonymous patient reference chosen by the clinician.
    pub patient_ref: PatientRef,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    /// Validated input values in model order.
    pub features: Vec<f64>,
    /// Result (for a `NotEligible` row only its model id and version mean anything).
    pub assessment: RiskAssessment,
    /// Screened, or not eligible and why.
    pub status: RecordStatus,
}

impl ScreeningRecord {
    /// The row for a patient who gets no estimate from `model_id` version `model_version`:
    /// `value_count` NaN values (every row of a model seals the same length), no result.
    pub fn not_eligible(
        patient_ref: PatientRef,
        created_at: i64,
        model_id: &str,
        model_version: u64,
        value_count: usize,
        reason: IneligibleReason,
    ) -> Self {
        ScreeningRecord {
            patient_ref,
            created_at,
            features: vec![f64::NAN; value_count],
            assessment: RiskAssessment {
                probability_code: 0,
                probability: 0.0,
                class: crate::domain::assessment::RiskClass::Low,
                model_id: model_id.to_string(),
                model_version,
            },
            status: RecordStatus::NotEligible(reason),
        }
    }
}

impl std::fmt::Debug for ScreeningRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScreeningRecord")
            .field("created_at", &self.created_at)
            .field("model_id", &self.assessment.model_id)
            .field("status", &self.status.as_str())
            .field("values", &"<redacted>")
            .finish()
    }
}

/// A screening as read back, with its row id.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredScreening {
    /// Row id (stable; shown in history).
    pub id: i64,
    /// The decrypted record.
    pub record: ScreeningRecord,
}

/// Persists screenings.
pub trait ScreeningStore: Send + Sync {
    /// Store one screening; returns its id.
    fn save(&self, record: &ScreeningRecord) -> Result<i64, StoreError>;
    /// The screening stored for this patient reference under this model version, if any
    /// (lets an interrupted batch resume without duplicates and report the stored result).
    fn find(
        &self,
        model_id: &str,
        version: u64,
        patient_ref: &PatientRef,
    ) -> Result<Option<StoredScreening>, StoreError>;
    /// Every stored screening, oldest first.
    fn all(&self) -> Result<Vec<StoredScreening>, StoreError>;
}
