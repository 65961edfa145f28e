//! Every fact about one patient -> one record in clinic columns: age on the screening date,
//! sex, race, the most recent counting measurement of each kind, 0|1 conditions and
//! treatments, and the resources used (the `basis` of the RiskAssessment written back).

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
/// An eGFR by an older formula.
const EGFR_LEGACY: &str = "egfr_legacy";
/// Kidney measurements in the order that decides a same-day tie.
const KIDNEY: [&str; 3] = [EGFR, SERUM_CREATININE, EGFR_LEGACY];

/// One patient, read.
#[derive(PartialEq)]
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

/// Why the most recent observation of a column cannot be used.
#[derive(Clone, Debug, PartialEq)]
pub struct Blocked {
    /// The LOINC code it was read under.
    pub loinc: String,
    /// Why (the reader's words; never a value from the input).
    pub reason: String,
}

/// What a record holds.
#[derive(PartialEq)]
pub enum RecordBody {
    /// Values by clinic column, and the columns whose most recent observation cannot be
    /// used (an unknown unit, a comparator, an unmapped answer).
    Read {
        /// Clinic values.
        values: BTreeMap<String, InputValue>,
        /// Columns blocked by their most recent observation.
        blocked: BTreeMap<String, Blocked>,
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

/// Redacted: a record holds a patient's id and values.
impl std::fmt::Debug for PatientRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PatientRecord(<redacted>, {:?})", self.body)
    }
}

/// The kind of body only (its values are patient data).
impl std::fmt::Debug for RecordBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordBody::Read { .. } => f.write_str("Read(<redacted>)"),
            RecordBody::NotEligible(why) => write!(f, "NotEligible({:?})", why.kind()),
            RecordBody::Invalid { element, .. } => write!(f, "Invalid({element})"),
            RecordBody::NoPatient { references } => write!(f, "NoPatient({references})"),
        }
    }
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

/// A measurement's most recent observation: a value, or why it cannot be used.
type Measured = Latest<Result<f64, Blocked>>;

struct PatientFact<'a> {
    ordinal: u64,
    birth: Option<i64>,
    gender: Option<&'a str>,
    race: Option<&'a str>,
    deceased: bool,
}

/// Reduce one patient's facts (in input order).
pub fn reduce(id: &str, facts: &[Fact], table: &MappingTable, window: Window) -> PatientRecord {
    let patients: Vec<PatientFact<'_>> = facts
        .iter()
        .filter_map(|f| match f {
            Fact::Patient {
                ordinal,
                birth,
                gender,
                race,
                deceased,
                ..
            } => Some(PatientFact {
                ordinal: *ordinal,
                birth: *birth,
                gender: gender.as_deref(),
                race: race.as_deref(),
                deceased: *deceased,
            }),
            _ => None,
        })
        .collect();
    let record = |ordinal: u64, basis: Vec<String>, body: RecordBody| PatientRecord {
        ordinal,
        id: id.to_string(),
        basis,
        body,
    };
    let invalid = |ordinal, basis, element, reason: &str| {
        record(
            ordinal,
            basis,
            RecordBody::Invalid {
                element,
                reason: reason.to_string(),
            },
        )
    };
    let patient = match patients.as_slice() {
        [] => {
            return record(
                0,
                Vec::new(),
                RecordBody::NoPatient {
                    references: facts.len(),
                },
            )
        }
        [one] => one,
        [first, ..] => {
            return invalid(
                first.ordinal,
                Vec::new(),
                "Patient.id",
                "the input holds two Patient resources with this id",
            )
        }
    };
    let ordinal = patient.ordinal;
    let mut basis = vec![format!("Patient/{id}")];
    if facts.iter().any(|f| matches!(f, Fact::Unreadable { .. })) {
        return invalid(
            ordinal,
            basis,
            "resource",
            "one of this patient's resources could not be read (see its line); not screened without it",
        );
    }
    if patient.deceased {
        return invalid(
            ordinal,
            basis,
            "Patient.deceased",
            "the patient is recorded as deceased",
        );
    }
    let Some(birth) = patient.birth else {
        return invalid(
            ordinal,
            basis,
            "Patient.birthDate",
            "a full birth date (YYYY-MM-DD) is needed for the age",
        );
    };
    if birth > window.as_of {
        return invalid(
            ordinal,
            basis,
            "Patient.birthDate",
            "after the screening date",
        );
    }
    let sex = match patient.gender {
        Some(g @ ("female" | "male")) => g,
        Some("other" | "unknown") => {
            return record(
                ordinal,
                basis,
                RecordBody::NotEligible(NotEligible::SexNeitherFemaleNorMale),
            )
        }
        Some(_) => {
            return invalid(
                ordinal,
                basis,
                "Patient.gender",
                "expected male, female, other or unknown",
            )
        }
        None => {
            return invalid(
                ordinal,
                basis,
                "Patient.gender",
                "missing (male, female, other or unknown)",
            )
        }
    };

    let mut measures: Vec<Option<Measured>> = table.observations.iter().map(|_| None).collect();
    let mut smoking: Option<Latest<Option<bool>>> = None;
    let mut conditions: Vec<Vec<&str>> = table.conditions.iter().map(|_| Vec::new()).collect();
    let mut medications: Vec<Vec<String>> = table.medications.iter().map(|_| Vec::new()).collect();
    for fact in facts {
        match fact {
            Fact::Patient { .. } | Fact::Unreadable { .. } => {}
            Fact::Measure {
                slot,
                day,
                value,
                blocked,
                loinc,
                id,
                ..
            } => {
                let outcome = match (value, blocked) {
                    (Some(v), _) => Ok(*v),
                    (None, reason) => Err(Blocked {
                        loinc: loinc.clone(),
                        reason: reason.clone().unwrap_or_default(),
                    }),
                };
                let slot = &mut measures[usize::from(*slot)];
                // On the same day an unusable observation wins over a usable one (whatever
                // their order in the input, so a Bundle and a bulk export agree); two usable
                // ones of the same day: the later in the input.
                let keeps_blocked = slot
                    .as_ref()
                    .is_some_and(|l| l.day == *day && l.value.is_err() && outcome.is_ok());
                if !keeps_blocked {
                    keep_latest(slot, *day, outcome, id);
                }
            }
            Fact::Smoking {
                day, current, id, ..
            } => {
                // As for measurements: on the same day an unmapped answer wins.
                let keeps_unmapped = smoking
                    .as_ref()
                    .is_some_and(|l| l.day == *day && l.value.is_none() && current.is_some());
                if !keeps_unmapped {
                    keep_latest(&mut smoking, *day, *current, id);
                }
            }
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
    let mut blocked = BTreeMap::new();
    let age = completed_years(civil_from_days(birth), civil_from_days(window.as_of));
    values.insert("age".to_string(), InputValue::Number(age as f64));
    values.insert("sex".to_string(), InputValue::Level(sex.to_string()));
    if let Some(race) = patient.race {
        values.insert(
            table.race.column.clone(),
            InputValue::Level(race.to_string()),
        );
    }
    values.insert(
        MALE.to_string(),
        InputValue::Number(if sex == "male" { 1.0 } else { 0.0 }),
    );
    let slot_of = |column: &str| table.observations.iter().position(|o| o.column == column);
    // Kidney function: the most recent of the three measurements; on the same day a
    // CKD-EPI 2021 eGFR, then creatinine (the intake applies the same equation), then an
    // older formula's eGFR.
    let kidney = KIDNEY
        .iter()
        .enumerate()
        .filter_map(|(rank, column)| {
            let m = measures[slot_of(column)?].as_ref()?;
            Some((m.day, std::cmp::Reverse(rank), *column))
        })
        .max()
        .map(|(_, _, column)| column);
    for (i, map) in table.observations.iter().enumerate() {
        let column = map.column.as_str();
        if KIDNEY.contains(&column) && kidney != Some(column) {
            continue;
        }
        let Some(m) = &measures[i] else { continue };
        // The legacy eGFR fills the eGFR column.
        let target = if column == EGFR_LEGACY { EGFR } else { column };
        match &m.value {
            Ok(v) => {
                values.insert(target.to_string(), InputValue::Number(*v));
                push_id(&mut basis, "Observation", &m.id);
            }
            Err(b) => {
                blocked.insert(target.to_string(), b.clone());
            }
        }
    }
    if let Some(s) = &smoking {
        match s.value {
            Some(current) => {
                values.insert(
                    table.smoking.column.clone(),
                    InputValue::Number(f64::from(u8::from(current))),
                );
                push_id(&mut basis, "Observation", &s.id);
            }
            None => {
                blocked.insert(
                    table.smoking.column.clone(),
                    Blocked {
                        loinc: table.smoking.loinc.clone(),
                        reason: "its answer is not one the mapping table maps to current or \
                                 not current smoker"
                            .into(),
                    },
                );
            }
        }
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
    record(ordinal, basis, RecordBody::Read { values, blocked })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::table;
    use pulsecure_core::civil_date::days_from_civil;

    fn window() -> Window {
        Window::new((2026, 6, 30), 2)
    }

    fn patient() -> Fact {
        Fact::Patient {
            id: "p".into(),
            ordinal: 1,
            birth: Some(days_from_civil(1960, 1, 1)),
            gender: Some("female".into()),
            race: None,
            deceased: false,
        }
    }

    fn measure(column: &str, day: (i64, i64, i64), value: f64) -> Fact {
        let slot = table()
            .observations
            .iter()
            .position(|o| o.column == column)
            .expect("column");
        Fact::Measure {
            subject: "p".into(),
            slot: slot as u8,
            day: days_from_civil(day.0, day.1, day.2),
            value: Some(value),
            blocked: None,
            loinc: table().observations[slot].loinc[0].clone(),
            id: format!("{column}-{}", day.1),
        }
    }

    fn values(facts: &[Fact]) -> BTreeMap<String, InputValue> {
        match reduce("p", facts, table(), window()).body {
            RecordBody::Read { values, .. } => values,
            other => panic!("not read: {other:?}"),
        }
    }

    #[test]
    fn the_most_recent_kidney_measurement_wins_and_a_same_day_tie_prefers_the_2021_egfr() {
        let newer_creatinine = values(&[
            patient(),
            measure("egfr", (2025, 1, 10), 95.0),
            measure("serum_creatinine", (2026, 3, 1), 2.5),
        ]);
        assert_eq!(
            newer_creatinine.get("serum_creatinine"),
            Some(&InputValue::Number(2.5))
        );
        assert!(!newer_creatinine.contains_key("egfr"));
        let same_day = values(&[
            patient(),
            measure("serum_creatinine", (2026, 3, 1), 2.5),
            measure("egfr_legacy", (2026, 3, 1), 30.0),
            measure("egfr", (2026, 3, 1), 28.0),
        ]);
        assert_eq!(same_day.get("egfr"), Some(&InputValue::Number(28.0)));
        assert!(!same_day.contains_key("serum_creatinine"));
        let newer_legacy = values(&[
            patient(),
            measure("serum_creatinine", (2025, 3, 1), 1.0),
            measure("egfr_legacy", (2026, 3, 1), 61.0),
        ]);
        assert_eq!(newer_legacy.get("egfr"), Some(&InputValue::Number(61.0)));
    }

    #[test]
    fn a_deceased_patient_is_not_read() {
        let dead = Fact::Patient {
            id: "p".into(),
            ordinal: 1,
            birth: Some(0),
            gender: Some("male".into()),
            race: None,
            deceased: true,
        };
        assert!(matches!(
            reduce("p", &[dead], table(), window()).body,
            RecordBody::Invalid {
                element: "Patient.deceased",
                ..
            }
        ));
    }
}
