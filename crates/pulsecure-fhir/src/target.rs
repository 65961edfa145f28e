//! A patient record -> the batch item a model reads: a published equation's clinic
//! columns, or a schema-1 model's features (through the table's `schema1_columns`). A
//! required input that is missing gives one per-patient error listing each missing input by
//! name and LOINC code; a blocking unknown unit names the LOINC code and the unit.

use std::collections::BTreeMap;

use pulsecure_batch_input::{ColumnSpec, IneligibleRow, Item, RawRow, RowError};
use pulsecure_core::domain::equation::InputValue;
use pulsecure_core::{GivenField, Model, PatientRef};

use crate::map::MappingTable;
use crate::record::{Blocked, PatientRecord, RecordBody};

/// What the records are read for.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// Published equations: these clinic columns.
    Columns(&'a ColumnSpec),
    /// A schema-1 model (cvd-lr): its features and population fields.
    Model(&'a Model),
}

/// A feature of a schema-1 model the table does not map (a file-level problem: the model
/// cannot read FHIR).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the FHIR mapping table does not fill the model's input `{0}`")]
pub struct UnmappedFeature(pub String);

impl Target<'_> {
    /// Check that every input the target needs is one the table fills.
    pub fn check(&self, table: &MappingTable) -> Result<(), UnmappedFeature> {
        if let Target::Model(model) = self {
            for name in schema1_names(model) {
                if !table.schema1_columns.contains_key(&name) {
                    return Err(UnmappedFeature(name));
                }
            }
        }
        Ok(())
    }
}

fn schema1_names(model: &Model) -> Vec<String> {
    model
        .features()
        .iter()
        .map(|f| f.name.clone())
        .chain(
            model
                .population()
                .map_or(&[][..], |p| p.extra_fields())
                .iter()
                .map(|s| s.to_string()),
        )
        .collect()
}

/// How a missing column is named: its measurement's name and LOINC code(s).
fn describe(table: &MappingTable, column: &str) -> (String, String) {
    if let Some(o) = table.observations.iter().find(|o| o.column == column) {
        return (
            format!("{} (LOINC {})", o.name, o.loinc.join(" or ")),
            o.loinc.join("/"),
        );
    }
    if table.smoking.column == column {
        return (
            format!("{} (LOINC {})", table.smoking.name, table.smoking.loinc),
            table.smoking.loinc.clone(),
        );
    }
    if table.race.column == column {
        return (
            format!("{} on the Patient", table.race.name),
            column.to_string(),
        );
    }
    (column.to_string(), column.to_string())
}

/// The batch item of `record` for `target`.
pub fn to_item(record: PatientRecord, target: Target<'_>, table: &MappingTable) -> Item {
    let row = usize::try_from(record.ordinal).unwrap_or(usize::MAX);
    let patient_ref = match PatientRef::parse(&record.id) {
        Ok(r) => r,
        Err(e) => {
            return Item::Rejected(RowError {
                row,
                patient_ref: None,
                column: Some("Patient.id".into()),
                reason: e.to_string(),
            })
        }
    };
    let reject = |patient_ref: PatientRef, column: String, reason: String| {
        Item::Rejected(RowError {
            row,
            patient_ref: Some(patient_ref),
            column: Some(column),
            reason,
        })
    };
    let (values, blocked) = match record.body {
        RecordBody::Read { values, blocked } => (values, blocked),
        RecordBody::NotEligible(why) => {
            return Item::NotEligible(IneligibleRow {
                row,
                patient_ref,
                why,
            })
        }
        RecordBody::Invalid { element, reason } => {
            return reject(patient_ref, element.to_string(), reason)
        }
        RecordBody::NoPatient { references } => {
            return reject(
                patient_ref,
                "subject".into(),
                format!(
                    "{references} resource(s) reference this Patient, which is not in the input"
                ),
            )
        }
    };
    // Each required input: the clinic columns any of which fills it.
    let required: Vec<(String, Vec<String>)> = match target {
        Target::Columns(spec) => spec
            .required
            .iter()
            .map(|any| (any.join(" or "), any.clone()))
            .collect(),
        Target::Model(model) => schema1_names(model)
            .into_iter()
            .map(|name| {
                let column = table
                    .schema1_columns
                    .get(&name)
                    .cloned()
                    .unwrap_or_default();
                (name, vec![column])
            })
            .collect(),
    };
    let mut missing: Vec<(String, String)> = Vec::new();
    let mut unusable: Vec<&Blocked> = Vec::new();
    for (_, any) in &required {
        if any.iter().any(|c| values.contains_key(c)) {
            continue;
        }
        match any.iter().find_map(|c| blocked.get(c)) {
            Some(b) => unusable.push(b),
            None => {
                let names: Vec<(String, String)> = any.iter().map(|c| describe(table, c)).collect();
                missing.push((
                    names
                        .iter()
                        .map(|n| n.0.clone())
                        .collect::<Vec<_>>()
                        .join(" or "),
                    names
                        .iter()
                        .map(|n| n.1.clone())
                        .collect::<Vec<_>>()
                        .join("|"),
                ));
            }
        }
    }
    if let Some(b) = unusable.first() {
        return reject(
            patient_ref,
            b.loinc.clone(),
            format!(
                "the most recent LOINC {} observation cannot be used: {}",
                b.loinc, b.reason
            ),
        );
    }
    if !missing.is_empty() {
        let observations = missing.iter().any(|m| m.1 != table.race.column);
        return reject(
            patient_ref,
            missing
                .iter()
                .map(|m| m.1.clone())
                .collect::<Vec<_>>()
                .join(", "),
            format!(
                "missing: {}{}",
                missing
                    .iter()
                    .map(|m| m.0.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
                if observations {
                    " (no final, amended or corrected observation in the look-back window)"
                } else {
                    ""
                }
            ),
        );
    }
    match target {
        Target::Columns(spec) => {
            let values: BTreeMap<String, InputValue> = values
                .into_iter()
                .filter(|(k, _)| spec.accepted.contains(k))
                .collect();
            Item::Raw(RawRow {
                row,
                patient_ref,
                values,
            })
        }
        Target::Model(model) => {
            let given: Vec<GivenField> = required
                .iter()
                .enumerate()
                .filter_map(|(i, (name, any))| {
                    let value = match values.get(any.first()?)? {
                        InputValue::Number(x) => *x,
                        InputValue::Level(_) => return None,
                    };
                    Some(GivenField {
                        position: i + 1,
                        name: name.clone(),
                        value,
                    })
                })
                .collect();
            pulsecure_batch_input::validate(model, row, patient_ref, &given)
        }
    }
}
