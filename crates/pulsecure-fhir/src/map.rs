//! The mapping table (`mapping/r4-map.json`): which LOINC, SNOMED CT, ICD-10-CM, ATC and
//! RxNorm codes fill which clinic column, with which unit conversions. One table, read here
//! and by the test-data generator (`scripts/fhir_testdata.py`), explained in `docs/fhir.md`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// The table's text, embedded at build time.
pub const MAP_JSON: &str = include_str!("../mapping/r4-map.json");

/// Code systems, as FHIR names them.
pub mod system {
    /// LOINC.
    pub const LOINC: &str = "http://loinc.org";
    /// SNOMED CT.
    pub const SNOMED: &str = "http://snomed.info/sct";
    /// ICD-10-CM.
    pub const ICD10CM: &str = "http://hl7.org/fhir/sid/icd-10-cm";
    /// WHO ATC.
    pub const ATC: &str = "http://www.whocc.no/atc";
    /// RxNorm.
    pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
}

/// One measurement read from `Observation`s.
#[derive(Debug, Deserialize)]
pub struct ObservationMap {
    /// The clinic column it fills.
    pub column: String,
    /// Its name in messages (the LOINC display name).
    pub name: String,
    /// LOINC codes of an observation carrying it as its value.
    pub loinc: Vec<String>,
    /// LOINC codes of panels carrying it as a component (blood pressure).
    #[serde(default)]
    pub component_of: Vec<String>,
    /// Accepted UCUM codes (or unit texts) and the factor to the column's unit.
    pub units: BTreeMap<String, f64>,
}

/// The smoking-status observation and its SNOMED CT answers.
#[derive(Debug, Deserialize)]
pub struct SmokingMap {
    /// The clinic column (0|1).
    pub column: String,
    /// Its name in messages.
    pub name: String,
    /// LOINC 72166-2.
    pub loinc: String,
    /// Answers meaning a current smoker.
    pub snomed_current: Vec<String>,
    /// Answers meaning not a current smoker (former, never).
    pub snomed_not_current: Vec<String>,
}

/// Race from the US Core race extension (read by the PCE only).
#[derive(Debug, Deserialize)]
pub struct RaceMap {
    /// The clinic column.
    pub column: String,
    /// Its name in messages.
    pub name: String,
    /// The extension's URL.
    pub extension: String,
    /// The nested extension holding the OMB category.
    pub category_url: String,
    /// OMB category code -> level.
    pub levels: BTreeMap<String, String>,
    /// The level of any other category.
    pub other_level: String,
}

/// When a condition counts.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Counts {
    /// Only with clinical status active, recurrence or relapse.
    Active,
    /// Whatever the clinical status (a resolved myocardial infarction is still known CVD).
    Ever,
}

/// A condition code set filling a 0|1 column.
#[derive(Debug, Deserialize)]
pub struct ConditionMap {
    /// The clinic column.
    pub column: String,
    /// Its name in messages.
    pub name: String,
    /// When a matching condition counts.
    pub counts: Counts,
    /// SNOMED CT concepts, descendants listed explicitly.
    pub snomed: Vec<String>,
    /// ICD-10-CM codes; a code counts if equal or below one (`E11` covers `E11.9`).
    pub icd10cm: Vec<String>,
}

/// A medication class filling a 0|1 column.
#[derive(Debug, Deserialize)]
pub struct MedicationMap {
    /// The clinic column.
    pub column: String,
    /// Its name in messages.
    pub name: String,
    /// ATC class prefixes.
    pub atc_prefixes: Vec<String>,
    /// RxNorm ingredient codes.
    pub rxnorm_ingredients: Vec<String>,
}

/// The whole table.
#[derive(Debug, Deserialize)]
pub struct MappingTable {
    /// `pulsecure-fhir-map/1`.
    pub format: String,
    /// Default look-back window for observations, in years.
    pub default_lookback_years: u32,
    /// Observation statuses that count.
    pub observation_statuses: Vec<String>,
    /// Code systems read as ICD-10(-CM) (ICD-10-CM and WHO ICD-10 agree on the codes listed).
    pub icd10_systems: Vec<String>,
    /// Measurements.
    pub observations: Vec<ObservationMap>,
    /// Smoking status.
    pub smoking: SmokingMap,
    /// Race (PCE).
    pub race: RaceMap,
    /// Condition code sets.
    pub conditions: Vec<ConditionMap>,
    /// Clinical statuses meaning active.
    pub condition_active_statuses: Vec<String>,
    /// Verification statuses that make a condition never count.
    pub condition_ignored_verification: Vec<String>,
    /// What a condition without `clinicalStatus` (an encounter diagnosis) counts as.
    pub condition_without_clinical_status: String,
    /// Medication statuses that count.
    pub medication_statuses: Vec<String>,
    /// `MedicationRequest.intent`s that count (an order; not a proposal or a plan).
    pub medication_request_intents: Vec<String>,
    /// Medication classes.
    pub medications: Vec<MedicationMap>,
    /// A schema-1 model's feature name -> the clinic column (or derived value) it reads.
    pub schema1_columns: BTreeMap<String, String>,
}

/// The embedded table, parsed once (a build-time constant: a parse failure is a bug, caught
/// by this crate's tests).
pub fn table() -> &'static MappingTable {
    static TABLE: OnceLock<MappingTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        #[allow(clippy::expect_used)]
        serde_json::from_str(MAP_JSON).expect("mapping/r4-map.json is valid (tested)")
    })
}

impl MappingTable {
    /// The measurement an observation coded `loinc` carries as its value.
    pub fn observation(&self, loinc: &str) -> Option<(usize, &ObservationMap)> {
        self.observations
            .iter()
            .enumerate()
            .find(|(_, o)| o.loinc.iter().any(|c| c == loinc))
    }

    /// The measurement carried as component `loinc` of a panel coded `panel`.
    pub fn component(&self, panel: &str, loinc: &str) -> Option<(usize, &ObservationMap)> {
        self.observations.iter().enumerate().find(|(_, o)| {
            o.component_of.iter().any(|c| c == panel) && o.loinc.iter().any(|c| c == loinc)
        })
    }

    /// The condition sets a code falls in.
    pub fn conditions_of(&self, code_system: &str, code: &str) -> Vec<usize> {
        self.conditions
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                if code_system == system::SNOMED {
                    c.snomed.iter().any(|s| s == code.trim())
                } else if self.icd10_systems.iter().any(|s| s == code_system) {
                    c.icd10cm.iter().any(|s| icd10_within(code, s))
                } else {
                    false
                }
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The medication classes a code falls in.
    pub fn medications_of(&self, code_system: &str, code: &str) -> Vec<usize> {
        self.medications
            .iter()
            .enumerate()
            .filter(|(_, m)| match code_system {
                system::ATC => m.atc_prefixes.iter().any(|p| code.starts_with(p.as_str())),
                system::RXNORM => m.rxnorm_ingredients.iter().any(|r| r == code),
                _ => false,
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The column index of a condition set by column name.
    pub fn condition_index(&self, column: &str) -> Option<usize> {
        self.conditions.iter().position(|c| c.column == column)
    }
}

/// Whether ICD-10-CM `code` is `parent` or below it, dotted or not (`E11.9` and `E119` are
/// below `E11`; `I11.0` is below `I11.0` only, not `I11.9`). Characters after the first
/// three only ever refine a category, so a prefix of the undotted code is a descendant.
fn icd10_within(code: &str, parent: &str) -> bool {
    let undotted = |c: &str| -> String {
        c.trim()
            .chars()
            .filter(|ch| *ch != '.')
            .map(|ch| ch.to_ascii_uppercase())
            .collect()
    };
    let (code, parent) = (undotted(code), undotted(parent));
    !parent.is_empty() && code.starts_with(&parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_names_every_column_once() {
        let t = table();
        assert_eq!(t.format, "pulsecure-fhir-map/1");
        let mut columns: Vec<&str> = t.observations.iter().map(|o| o.column.as_str()).collect();
        columns.push(&t.smoking.column);
        columns.extend(t.conditions.iter().map(|c| c.column.as_str()));
        columns.extend(t.medications.iter().map(|m| m.column.as_str()));
        let mut sorted = columns.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), columns.len(), "a column filled twice");
    }

    #[test]
    fn icd10_codes_match_their_category_only() {
        assert!(icd10_within("E11.9", "E11"));
        assert!(icd10_within("E11", "E11"));
        assert!(icd10_within("E119", "E11"));
        assert!(!icd10_within("E1", "E11"));
        assert!(!icd10_within("E12.9", "E11"));
        assert!(icd10_within("e11.9", "E11"), "case does not matter");
        assert!(icd10_within("I11.0", "I11.0"));
        assert!(!icd10_within("I11.9", "I11.0"));
        let t = table();
        assert_eq!(t.conditions_of(system::ICD10CM, "I25.2").len(), 1);
        assert!(t.conditions_of(system::ICD10CM, "O24.4").is_empty());
        assert_eq!(
            t.conditions_of("http://hl7.org/fhir/sid/icd-10", "I21.9")
                .len(),
            1,
            "WHO ICD-10 too"
        );
        // Hypertensive heart disease with heart failure: hypertension and known CVD.
        assert_eq!(t.conditions_of(system::ICD10CM, "I11.0").len(), 2);
    }

    #[test]
    fn codes_find_their_measurement_and_class() {
        let t = table();
        assert_eq!(
            t.observation("2093-3").map(|o| o.1.column.as_str()),
            Some("total_c")
        );
        assert_eq!(
            t.component("85354-9", "8480-6")
                .map(|o| o.1.column.as_str()),
            Some("sbp")
        );
        assert!(t.component("2093-3", "8480-6").is_none());
        assert_eq!(t.medications_of(system::ATC, "C10AA05").len(), 1);
        assert_eq!(
            t.medications_of(system::ATC, "C10BA02").len(),
            1,
            "statin combination"
        );
        assert_eq!(
            t.medications_of(system::ATC, "C10AX09").len(),
            0,
            "ezetimibe"
        );
        assert_eq!(t.medications_of(system::RXNORM, "83367").len(), 1);
    }
}
