//! What one resource says about one patient, in the table's terms: the unit a reader keeps
//! (and, for a bulk export, spills to disk) instead of the resource itself.

use serde::{Deserialize, Serialize};

/// One fact. Observations outside the look-back window, statuses that do not count and
/// codes outside the table never become facts.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub enum Fact {
    /// A `Patient` resource.
    Patient {
        /// The logical id (the screening's patient reference).
        id: String,
        /// 1-based position of the resource among the input's patients.
        ordinal: u64,
        /// Birth date, days since 1970-01-01, when given as a full date.
        birth: Option<i64>,
        /// `Patient.gender` as written.
        gender: Option<String>,
        /// Race level from the US Core race extension (`black`, `white`, `other`).
        race: Option<String>,
        /// Recorded as deceased on or before the screening date.
        deceased: bool,
    },
    /// A measurement (an `Observation` value or component).
    Measure {
        /// The patient's id.
        subject: String,
        /// Index of the measurement in the table.
        slot: u8,
        /// Date, days since 1970-01-01.
        day: i64,
        /// The value in the column's unit; `None` when it cannot be used.
        value: Option<f64>,
        /// Why it cannot be used (an unknown unit, a comparator, not a number): a reason in
        /// the reader's words, never a value from the input.
        blocked: Option<String>,
        /// The LOINC code it was read under (errors name it).
        loinc: String,
        /// The `Observation` id.
        id: String,
    },
    /// A smoking status answer.
    Smoking {
        /// The patient's id.
        subject: String,
        /// Date, days since 1970-01-01.
        day: i64,
        /// A current smoker; `None` for an answer the table does not map.
        current: Option<bool>,
        /// The `Observation` id.
        id: String,
    },
    /// A `Condition` in one of the table's code sets.
    Condition {
        /// The patient's id.
        subject: String,
        /// Index of the code set in the table.
        set: u8,
        /// Clinical status active, recurrence or relapse.
        active: bool,
        /// The `Condition` id.
        id: String,
    },
    /// A resource of this patient that could not be read (its line or entry is reported):
    /// the patient is not screened without it.
    Unreadable {
        /// The patient's id.
        subject: String,
    },
    /// An active `MedicationRequest`/`MedicationStatement` in one of the table's classes.
    Medication {
        /// The patient's id.
        subject: String,
        /// Index of the class in the table.
        class: u8,
        /// `MedicationRequest` or `MedicationStatement`.
        kind: MedicationKind,
        /// The resource id.
        id: String,
    },
}

/// Which medication resource a fact came from (for `basis` references).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MedicationKind {
    /// `MedicationRequest`.
    Request,
    /// `MedicationStatement`.
    Statement,
}

impl Fact {
    /// The patient the fact is about.
    pub fn patient(&self) -> &str {
        match self {
            Fact::Patient { id, .. } => id,
            Fact::Measure { subject, .. }
            | Fact::Smoking { subject, .. }
            | Fact::Condition { subject, .. }
            | Fact::Medication { subject, .. }
            | Fact::Unreadable { subject } => subject,
        }
    }
}

/// Redacted: a fact holds a patient's id and values.
impl std::fmt::Debug for Fact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Fact::Patient { .. } => "Fact::Patient(<redacted>)",
            Fact::Measure { .. } => "Fact::Measure(<redacted>)",
            Fact::Smoking { .. } => "Fact::Smoking(<redacted>)",
            Fact::Condition { .. } => "Fact::Condition(<redacted>)",
            Fact::Unreadable { .. } => "Fact::Unreadable(<redacted>)",
            Fact::Medication { .. } => "Fact::Medication(<redacted>)",
        })
    }
}
