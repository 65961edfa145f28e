//! Every fact about one patient -> one record in clinic columns: age on the screening date,
//! sex, the most recent counting measurement of each kind, 0|1 conditions and treatments,
//! and the resources used (the `basis` of the RiskAssessment written back).

use std::collections::BTreeMap;

use pulsecure_core::civil_date::{civil_from_days, completed_years};
use pulsecure_core::domain::eligibility::NotEligible;
use pulsecure_core::domain::equation::InputValue;

use crate::extract::Window;
use crate::fact::{Fact, MedicationKind};
use crate::map::{Counts, MappingTable};

/// Column derived from `Patient.gender` for schema-1 models (1 = male).
pub const MALE: &str = "male";
/// Column derived for schema-1 models: an active hypertension diagnosis or treatment.
pub const HYPERTENSION_OR_BP_TX: &str = "hypertension_or_bp_tx";
/// The eGFR column (CKD-EPI 2021).
const EGFR: &str = "egfr";
/// Serum creatinine (mg/dL; the intake computes the CKD-EPI 2021 eGFR).
const SERUM_CREATININE: &str = "serum_creatinine";
/// An eGFR by an older formula, used only without the two above.
const EGFR_LEGACY: &str = "egfr_legacy";

/// One patient, read.
#[derive(Debug, PartialEq)]
pub struct PatientRecord {
    /// 1-based position of its `Patient` resource in the input (0: no `Patient` resource).
    pub ordinal: u64,
    /// The `Patient` id.
    pub id: String,
    /// References to the resources the values came from (`Patient/..`, `Observation/..`).
    pub basis: Vec<String>,
    /// What was read.
    pub body: RecordBody,
}

/// What a record holds.
#[derive(Debug, PartialEq)]
pub enum RecordBody {
    /// Values by clinic column, and the columns whose most recent observation has a unit
    /// the table does not convert (column -> unit as written).
    Read {
        /// Clinic values.
        values: BTreeMap<String, InputValue>,
        /// Columns blocked by an unknown unit.
        unknown_units: BTreeMap<String, String>,
    },
    /// Outside every model's population (a sex other than female or male).
    NotEligible(NotEligible),
    /// The patient cannot be read: which element, what was expected.
    Invalid {
        /// The element (`Patient.birthDate`).
        element: &'static str,
        /// What was expected.
        reason: String,
    },
    /// Resources reference this patient but the input holds no `Patient` with its id.
    NoPatient {
        /// How many facts referenced it.
        references: usize,
    },
}

/// The most recent fact of one kind.
struct Latest<T> {
    day: i64,
    value: T,
    id: String,
}

fn keep_latest<T>(slot: &mut Option<Latest<T>>, day: i64, value: T, id: &str) {
    // A later fact of the same day replaces an earlier one (input order decides ties).
    if slot.as_ref().is_none_or(|l| day >= l.day) {
        *slot = Some(Latest {
            day,
            value,
            id: id.to_string(),
        });
    }
}

/// Reduce one patient's facts (in input order).
pub fn reduce(id: &str, facts: &[Fact], table: &MappingTable, window: Window) -> PatientRecord {
    let patients: Vec<(&u64, &Option<i64>, &Option<String>)> = facts
        .iter()
        .filter_map(|f| match f {
            Fact::Patient {
                ordinal,
                birth,
                gender,
                ..
            } => Some((ordinal, birth, gender)),
            _ => None,
        })
        .collect();
    let record = |ordinal: u64, basis: Vec<String>, body: RecordBody| PatientRecord {
        ordinal,
        id: id.to_string(),
        basis,
        body,
    };
    let (ordinal, birth, gender) = match patients.as_slice() {
        [] => {
            return record(
                0,
                Vec::new(),
                RecordBody::NoPatient {
                    references: facts.len(),
                },
            )
        }
        [one] => (*one.0, *one.1, one.2.as_deref()),
        [first, ..] => {
            return record(
                *first.0,
                Vec::new(),
                RecordBody::Invalid {
                    element: "Patient.id",
                    reason: "the input holds two Patient resources with this id".into(),
                },
            )
        }
    };
    let mut basis = vec![format!("Patient/{id}")];
    let Some(birth) = birth else {
        return record(
            ordinal,
            basis,
            RecordBody::Invalid {
                element: "Patient.birthDate",
                reason: "a full birth date (YYYY-MM-DD) is needed for the age".into(),
            },
        );
    };
    if birth > window.as_of {
        return record(
            ordinal,
            basis,
            RecordBody::Invalid {
                element: "Patient.birthDate",
                reason: "after the screening date".into(),
            },
        );
    }
    let sex = match gender {
        Some(g @ ("female" | "male")) => g,
        Some("other" | "unknown") => {
            return record(
                ordinal,
                basis,
                RecordBody::NotEligible(NotEligible::SexNotRecorded),
            )
        }
        Some(_) => {
            return record(
                ordinal,
                basis,
                RecordBody::Invalid {
                    element: "Patient.gender",
                    reason: "expected male, female, other or unknown".into(),
                },
            )
        }
        None => {
            return record(
                ordinal,
                basis,
                RecordBody::Invalid {
                    element: "Patient.gender",
                    reason: "missing (male, female, other or unknown)".into(),
                },
            )
        }
    };

    let mut measures: Vec<Option<Latest<f64>>> = table.observations.iter().map(|_| None).collect();
    let mut unknown: Vec<Option<Latest<String>>> =
        table.observations.iter().map(|_| None).collect();
    let mut smoking: Option<Latest<bool>> = None;
    let mut conditions: Vec<Vec<&str>> = table.conditions.iter().map(|_| Vec::new()).collect();
    let mut medications: Vec<Vec<String>> = table.medications.iter().map(|_| Vec::new()).collect();
    for fact in facts {
        match fact {
            Fact::Patient { .. } => {}
            Fact::Measure {
                slot,
                day,
                value,
                unknown_unit,
                id,
                ..
            } => {
                let slot = usize::from(*slot);
                match (value, unknown_unit) {
                    (Some(v), _) => keep_latest(&mut measures[slot], *day, *v, id),
                    (None, Some(u)) => keep_latest(&mut unknown[slot], *day, u.clone(), id),
                    (None, None) => {}
                }
            }
            Fact::Smoking {
                day, current, id, ..
            } => keep_latest(&mut smoking, *day, *current, id),
            Fact::Condition {
                set, active, id, ..
            } => {
                let set = usize::from(*set);
                if table.conditions[set].counts == Counts::Ever || *active {
                    conditions[set].push(id);
                }
            }
            Fact::Medication {
                class, kind, id, ..
            } => {
                let resource = match kind {
                    MedicationKind::Request => "MedicationRequest",
                    MedicationKind::Statement => "MedicationStatement",
                };
                medications[usize::from(*class)].push(format!("{resource}/{id}"));
            }
        }
    }

    let mut values = BTreeMap::new();
    let mut unknown_units = BTreeMap::new();
    let as_of = civil_from_days(window.as_of);
    let age = completed_years(civil_from_days(birth), as_of);
    values.insert("age".to_string(), InputValue::Number(age as f64));
    values.insert("sex".to_string(), InputValue::Level(sex.to_string()));
    values.insert(
        MALE.to_string(),
        InputValue::Number(if sex == "male" { 1.0 } else { 0.0 }),
    );
    // Per measurement: the most recent value, or the unit that blocks it.
    let mut chosen: BTreeMap<&str, Result<&Latest<f64>, &str>> = BTreeMap::new();
    for (i, map) in table.observations.iter().enumerate() {
        match (measures[i].as_ref(), unknown[i].as_ref()) {
            (Some(v), b) if b.is_none_or(|b| b.day < v.day) => {
                chosen.insert(map.column.as_str(), Ok(v));
            }
            (_, Some(b)) => {
                chosen.insert(map.column.as_str(), Err(b.value.as_str()));
            }
            _ => {}
        }
    }
    // Kidney function, as PREVENT was derived: a CKD-EPI 2021 eGFR, else the eGFR the
    // intake computes from creatinine by the same equation, else an older formula's eGFR.
    let has =
        |c: &BTreeMap<&str, Result<&Latest<f64>, &str>>, k: &str| matches!(c.get(k), Some(Ok(_)));
    if has(&chosen, EGFR) {
        chosen.remove(SERUM_CREATININE);
        chosen.remove(EGFR_LEGACY);
    } else if has(&chosen, SERUM_CREATININE) {
        chosen.remove(EGFR);
        chosen.remove(EGFR_LEGACY);
    } else if let Some(legacy) = chosen.remove(EGFR_LEGACY) {
        if legacy.is_ok() || !chosen.contains_key(EGFR) {
            chosen.insert(EGFR, legacy);
        }
    }
    for (column, choice) in chosen {
        match choice {
            Ok(v) => {
                values.insert(column.to_string(), InputValue::Number(v.value));
                push_id(&mut basis, "Observation", &v.id);
            }
            Err(unit) => {
                unknown_units.insert(column.to_string(), unit.to_string());
            }
        }
    }
    if let Some(s) = &smoking {
        values.insert(
            table.smoking.column.clone(),
            InputValue::Number(if s.value { 1.0 } else { 0.0 }),
        );
        push_id(&mut basis, "Observation", &s.id);
    }
    for (i, map) in table.conditions.iter().enumerate() {
        let present = !conditions[i].is_empty();
        values.insert(
            map.column.clone(),
            InputValue::Number(f64::from(u8::from(present))),
        );
        for id in &conditions[i] {
            push_id(&mut basis, "Condition", id);
        }
    }
    for (i, map) in table.medications.iter().enumerate() {
        let present = !medications[i].is_empty();
        values.insert(
            map.column.clone(),
            InputValue::Number(f64::from(u8::from(present))),
        );
        for reference in &medications[i] {
            if !reference.ends_with('/') && !basis.contains(reference) {
                basis.push(reference.clone());
            }
        }
    }
    let flag = |name: &str| matches!(values.get(name), Some(InputValue::Number(x)) if *x == 1.0);
    let htn = flag("hypertension") || flag("bp_tx");
    values.insert(
        HYPERTENSION_OR_BP_TX.to_string(),
        InputValue::Number(f64::from(u8::from(htn))),
    );
    record(
        ordinal,
        basis,
        RecordBody::Read {
            values,
            unknown_units,
        },
    )
}

fn push_id(basis: &mut Vec<String>, resource: &str, id: &str) {
    if id.is_empty() {
        return;
    }
    let reference = format!("{resource}/{id}");
    if !basis.contains(&reference) {
        basis.push(reference);
    }
}
