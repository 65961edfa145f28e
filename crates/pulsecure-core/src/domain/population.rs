//! Who a schema-1 model is for: the population its `target` declares (cvd-lr v3: adults
//! aged 30–79 without known cardiovascular disease). A patient outside it gets a
//! `not_eligible` decision, stored as such, instead of an estimate — decided on the client,
//! before anything is validated further or encrypted. Models without a `target` (cvd-lr v1,
//! v2) have no population rule and screen everyone their features accept.

use serde::{Deserialize, Serialize};

use super::clinic_columns::KNOWN_CVD;
use super::eligibility::NotEligible;
use super::feature::FeatureSpec;
use super::patient::{GivenField, PatientError, PatientFeatures};

/// The feature holding the age, in years, that the population's age range is checked on.
pub const AGE_FEATURE: &str = "age";

/// What a model predicts and for whom (`model.json` → `target`, schema 1 from cvd-lr v3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelTarget {
    /// Who the model is for.
    pub population: TargetPopulation,
    /// How the training label was made (free-form, reported by `model inspect`).
    pub label: serde_json::Value,
    /// The published equation version the label comes from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prevent_version: Option<String>,
}

impl ModelTarget {
    /// Whether the model is a pre-screen for a published equation's risk (cvd-lr v3: "is
    /// PREVENT >= 7.5 %, decided without a blood draw"): its flag means "take the labs and
    /// compute the equation", never a risk estimate itself.
    pub fn is_equation_pre_screen(&self) -> bool {
        self.label.get("kind").and_then(|k| k.as_str()) == Some("prevent_risk_at_least")
    }

    /// The label rule in words (`PREVENT base 10-year total CVD risk >= 7.5 %`), if given.
    pub fn label_rule(&self) -> Option<&str> {
        self.label.get("rule").and_then(|r| r.as_str())
    }
}

/// The population a model was trained for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetPopulation {
    /// In words (`adults aged 30-79 without known cardiovascular disease`).
    pub rule: String,
    /// Youngest age, years.
    pub age_min: f64,
    /// Oldest age, years.
    pub age_max: f64,
    /// The survey items that define known CVD in training (NHANES codes); non-empty means
    /// known CVD is outside the population, and the input must then say
    /// [`KNOWN_CVD`] (0 or 1).
    #[serde(default)]
    pub known_cvd_items: Vec<String>,
    /// How known CVD was read in training, in words.
    #[serde(default)]
    pub known_cvd: String,
}

impl TargetPopulation {
    /// Whether known cardiovascular disease excludes a patient.
    pub fn excludes_known_cvd(&self) -> bool {
        !self.known_cvd_items.is_empty()
    }

    /// The inputs besides the model's features that a patient's values must carry.
    pub fn extra_fields(&self) -> &'static [&'static str] {
        if self.excludes_known_cvd() {
            &[KNOWN_CVD]
        } else {
            &[]
        }
    }
}

/// What intake decided for one schema-1 patient.
#[derive(Clone, Debug, PartialEq)]
pub enum Screenable {
    /// Validated features, ready to quantize and encrypt.
    Eligible(PatientFeatures),
    /// Outside the model's population: no estimate, nothing encrypted.
    NotEligible(NotEligible),
}

/// Decide one patient against `specs` and the model's population (if any), in the clinical
/// order: known CVD first (whatever else the input holds), then the age range, then every
/// feature against its plausible range. Errors name the field, never the value.
pub fn intake_schema1(
    specs: &[FeatureSpec],
    population: Option<&TargetPopulation>,
    given: &[GivenField],
) -> Result<Screenable, PatientError> {
    let Some(population) = population else {
        return PatientFeatures::from_given(specs, given).map(Screenable::Eligible);
    };
    let mut features: Vec<&GivenField> = Vec::with_capacity(given.len());
    let mut known_cvd: Option<&GivenField> = None;
    for field in given {
        let extra = population.extra_fields().contains(&field.name.as_str());
        if !extra && !specs.iter().any(|s| s.name == field.name) {
            // Malformed input is an error before any decision; the name is never shown.
            return Err(PatientError::Unknown {
                position: field.position,
                expected: specs
                    .iter()
                    .map(|s| s.name.as_str())
                    .chain(population.extra_fields().iter().copied())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        // A repeated field is ambiguous: an error before any decision (a decision on the
        // first copy would be stored and resumed on every rerun).
        let earlier = known_cvd
            .filter(|_| extra)
            .or_else(|| features.iter().find(|f| f.name == field.name).copied());
        if let Some(first) = earlier {
            return Err(PatientError::Repeated {
                field: field.name.clone(),
                position: field.position,
                first: first.position,
            });
        }
        if extra {
            known_cvd = Some(field);
        } else {
            features.push(field);
        }
    }
    if population.excludes_known_cvd() {
        let allowed = "0 (no) or 1 (yes)".to_string();
        match known_cvd.map(|f| f.value) {
            None => {
                return Err(PatientError::Missing {
                    field: KNOWN_CVD.into(),
                    allowed,
                })
            }
            Some(1.0) => return Ok(Screenable::NotEligible(NotEligible::KnownCvd)),
            Some(0.0) => {}
            Some(_) => {
                return Err(PatientError::NotBinary {
                    field: KNOWN_CVD.into(),
                    allowed,
                })
            }
        }
    }
    let features: Vec<GivenField> = features.into_iter().cloned().collect();
    let age = features
        .iter()
        .find(|f| f.name == AGE_FEATURE)
        .map(|f| f.value);
    if let Some(age) = age.filter(|a| a.is_finite()) {
        if age < population.age_min || age > population.age_max {
            return Ok(Screenable::NotEligible(NotEligible::Age {
                min: population.age_min,
                max: population.age_max,
            }));
        }
    }
    PatientFeatures::from_given(specs, &features).map(Screenable::Eligible)
}
