//! What one row of a batch becomes: a patient to screen, a row of named values for a
//! published equation's intake, a not-eligible decision, or a rejection naming the field.

use std::collections::BTreeMap;

use pulsecure_core::domain::eligibility::NotEligible;
use pulsecure_core::domain::equation::InputValue;
use pulsecure_core::domain::population::{intake_schema1, Screenable};
use pulsecure_core::{GivenField, Model, PatientError, PatientFeatures, PatientRef};

use crate::PATIENT_ID;

/// A row that validated.
pub struct InputRow {
    /// 1-based row number (the line number for CSV and JSON Lines, the element number for
    /// a JSON array).
    pub row: usize,
    /// Pseudonymous reference.
    pub patient_ref: PatientRef,
    /// Validated values.
    pub features: PatientFeatures,
}

/// A row outside the model's population (known CVD, or an age outside its range): no
/// estimate, nothing encrypted; the decision is stored as such.
pub struct IneligibleRow {
    /// 1-based row number.
    pub row: usize,
    /// Pseudonymous reference.
    pub patient_ref: PatientRef,
    /// Why.
    pub why: NotEligible,
}

/// A row that did not. Never contains the offending value itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// 1-based row number.
    pub row: usize,
    /// The row's patient reference, when it could be read.
    pub patient_ref: Option<PatientRef>,
    /// The column / field at fault, when there is one.
    pub column: Option<String>,
    /// What was expected.
    pub reason: String,
}

impl RowError {
    /// A row refused for `e`: the column is the model's feature name, or `#N` for a field
    /// the model does not know (its name is never shown: it may be patient data).
    pub fn patient(row: usize, patient_ref: Option<PatientRef>, e: &PatientError) -> Self {
        RowError {
            row,
            patient_ref,
            column: e
                .field()
                .map(str::to_string)
                .or_else(|| e.position().map(|p| format!("#{p}"))),
            reason: e.to_string(),
        }
    }
}

/// A row read against a [`ColumnSpec`]: its values as given (numbers, or text for a
/// level such as `female`), to be checked by the model's intake, not here.
pub struct RawRow {
    /// 1-based row number.
    pub row: usize,
    /// Pseudonymous reference.
    pub patient_ref: PatientRef,
    /// Every non-empty value, by column name.
    pub values: BTreeMap<String, InputValue>,
}

/// The columns of a batch that is not read against a schema-1 model (a published
/// equation's inputs as clinics hold them): which names are accepted and which must be
/// present (each entry: one of these names, e.g. `egfr` or `serum_creatinine`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnSpec {
    /// Every accepted column besides `patient_id`, in the order messages list them.
    pub accepted: Vec<String>,
    /// Alternatives of which at least one column must be present.
    pub required: Vec<Vec<String>>,
}

/// One item of a batch.
pub enum Item {
    /// A patient to screen.
    Row(InputRow),
    /// A row of a batch read against a [`ColumnSpec`].
    Raw(RawRow),
    /// A row outside the model's population.
    NotEligible(IneligibleRow),
    /// A rejected row.
    Rejected(RowError),
}

pub(crate) fn check_ref(row: usize, value: &str) -> Result<PatientRef, RowError> {
    PatientRef::parse(value).map_err(|reason| RowError {
        row,
        patient_ref: None,
        column: Some(PATIENT_ID.into()),
        reason: reason.to_string(),
    })
}

/// One patient's values (from any source: a batch row, a FHIR record) checked against a
/// schema-1 model and its population rule: a row to screen, a not-eligible decision or a
/// rejection naming the field.
pub fn validate(model: &Model, row: usize, patient_ref: PatientRef, given: &[GivenField]) -> Item {
    match intake_schema1(model.features(), model.population(), given) {
        Ok(Screenable::Eligible(features)) => Item::Row(InputRow {
            row,
            patient_ref,
            features,
        }),
        Ok(Screenable::NotEligible(why)) => Item::NotEligible(IneligibleRow {
            row,
            patient_ref,
            why,
        }),
        Err(e) => Item::Rejected(RowError::patient(row, Some(patient_ref), &e)),
    }
}

/// The columns a schema-1 model reads besides `patient_id`: its features, then the fields
/// of its population rule (`known_cvd`).
pub(crate) fn model_columns(model: &Model) -> Vec<&str> {
    model
        .features()
        .iter()
        .map(|f| f.name.as_str())
        .chain(
            model
                .population()
                .map_or(&[][..], |p| p.extra_fields())
                .iter()
                .copied(),
        )
        .collect()
}
