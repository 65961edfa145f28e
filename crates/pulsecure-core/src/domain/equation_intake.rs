//! Intake for a published equation: a clinic's row (the model's inputs as clinics hold
//! them, plus `known_cvd`, with `serum_creatinine` allowed in place of `egfr` and
//! cholesterol in mmol/L on request) becomes either the equation's checked [`Inputs`] or a
//! `not_eligible` decision — before anything is encrypted.
//!
//! The order is the clinical one: known cardiovascular disease first (secondary prevention:
//! no estimate, whatever else the row holds), then the eligible ages, then every value
//! against the published ranges. Errors name the field and the range, never the value.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::domain::equation::{InputError, InputKind, InputValue, Inputs};
use crate::domain::equation_model::EquationModel;

pub use crate::domain::clinic_columns::{
    clinic_column_description, clinic_column_label, CLINIC_COLUMNS, EGFR, KNOWN_CVD,
    SERUM_CREATININE,
};
pub use crate::domain::eligibility::{IneligibleReason, NotEligible, KNOWN_CVD_REASON};

/// Why a clinic row was refused. Names fields and ranges, never a value.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum IntakeError {
    /// A value the equation reads is missing, of the wrong kind or outside its range.
    #[error(transparent)]
    Input(#[from] InputError),
    /// Both `egfr` and `serum_creatinine` were given.
    #[error("give either `egfr` or `serum_creatinine`, not both")]
    BothKidneyMeasures,
    /// `serum_creatinine` was given to a model without an `egfr` input.
    #[error("field `serum_creatinine` is not an input of this model")]
    CreatinineNotRead,
    /// The creatinine is valid but the eGFR it gives is outside the equation's range.
    #[error(
        "`serum_creatinine` must give an eGFR (CKD-EPI 2021) between {min} and {max} {unit} \
         (the equation's published range)"
    )]
    EgfrOutOfRange {
        /// Smallest valid eGFR, as text.
        min: String,
        /// Largest valid eGFR, as text.
        max: String,
        /// eGFR unit.
        unit: String,
    },
}

impl IntakeError {
    /// The column at fault, when one is named (for per-row error reports).
    pub fn field(&self) -> Option<&str> {
        match self {
            IntakeError::Input(e) => match e {
                InputError::Missing { field }
                | InputError::OutOfRange { field, .. }
                | InputError::NotBinary { field }
                | InputError::NotALevel { field, .. } => Some(field),
                InputError::Unexpected { .. } => None,
            },
            IntakeError::BothKidneyMeasures
            | IntakeError::CreatinineNotRead
            | IntakeError::EgfrOutOfRange { .. } => Some(SERUM_CREATININE),
        }
    }
}

/// The equation inputs the race-free CKD-EPI 2021 equation reads besides creatinine.
const AGE: &str = "age";
const SEX: &str = "sex";
/// Cholesterol inputs, in mg/dL in the equation.
pub const CHOLESTEROL_INPUTS: [&str; 2] = ["total_c", "hdl_c"];
/// mg/dL per mmol/L of cholesterol.
pub const MG_DL_PER_MMOL_L: f64 = 38.67;
/// Accepted serum creatinine, mg/dL (wider than any eGFR the equations accept needs).
pub const CREATININE_RANGE: (f64, f64) = (0.1, 20.0);

/// Units of the cholesterol columns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CholesterolUnits {
    /// mg/dL, as the equations are published.
    #[default]
    MgPerDl,
    /// mmol/L (`--units si`), converted with × 38.67.
    MmolPerL,
}

/// What intake decided for one patient.
#[derive(Clone, Debug, PartialEq)]
pub enum Intake {
    /// Checked values, ready to encode and encrypt.
    Eligible(Inputs),
    /// No estimate; nothing is encrypted.
    NotEligible(NotEligible),
}

/// The race-free CKD-EPI 2021 eGFR (mL/min/1.73 m²) from serum creatinine (mg/dL):
/// `142 · min(Scr/κ, 1)^α · max(Scr/κ, 1)^−1.200 · 0.9938^age · (1.012 if female)`,
/// κ 0.7 (female) / 0.9 (male), α −0.241 (female) / −0.302 (male).
pub fn ckd_epi_2021(creatinine: f64, age: f64, female: bool) -> f64 {
    let (kappa, alpha, factor) = if female {
        (0.7, -0.241, 1.012)
    } else {
        (0.9, -0.302, 1.0)
    };
    let ratio = creatinine / kappa;
    142.0 * ratio.min(1.0).powf(alpha) * ratio.max(1.0).powf(-1.200) * 0.9938f64.powf(age) * factor
}

fn number(values: &BTreeMap<String, InputValue>, name: &str) -> Option<f64> {
    match values.get(name) {
        Some(InputValue::Number(x)) => Some(*x),
        _ => None,
    }
}

fn numeric_range(model: &EquationModel, name: &str) -> Option<(f64, f64, String)> {
    model
        .equation()
        .inputs
        .iter()
        .find(|i| i.name == name)
        .and_then(|i| match &i.kind {
            InputKind::Number { unit, min, max } => Some((*min, *max, unit.clone())),
            _ => None,
        })
}

fn trim(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Whether `model` reads clinic column `name` (`serum_creatinine`: when it reads `egfr`).
fn reads(model: &EquationModel, name: &str) -> bool {
    let name = if name == SERUM_CREATININE { EGFR } else { name };
    model.equation().inputs.iter().any(|i| i.name == name)
}

/// Decide for one clinic row (every column but `patient_id`): eligible with checked
/// inputs, not eligible, or an input error naming the field and its range. Clinic columns
/// ([`CLINIC_COLUMNS`]) the model does not read are ignored.
pub fn intake(
    model: &EquationModel,
    row: &BTreeMap<String, InputValue>,
    units: CholesterolUnits,
) -> Result<Intake, IntakeError> {
    let mut values = row.clone();
    values.retain(|name, _| !CLINIC_COLUMNS.contains(&name.as_str()) || reads(model, name));
    let eligibility = model.eligibility();
    match values.remove(KNOWN_CVD) {
        None => {
            return Err(InputError::Missing {
                field: KNOWN_CVD.into(),
            }
            .into())
        }
        Some(InputValue::Number(1.0)) => {
            if eligibility.excludes_known_cvd {
                return Ok(Intake::NotEligible(NotEligible::KnownCvd));
            }
        }
        Some(InputValue::Number(0.0)) => {}
        Some(_) => {
            return Err(InputError::NotBinary {
                field: KNOWN_CVD.into(),
            }
            .into())
        }
    }
    if let Some(age) = number(&values, &eligibility.age_input) {
        if age.is_finite() && !(eligibility.min_age..=eligibility.max_age).contains(&age) {
            return Ok(Intake::NotEligible(NotEligible::Age {
                min: eligibility.min_age,
                max: eligibility.max_age,
            }));
        }
    }
    if let Some(creatinine) = values.remove(SERUM_CREATININE) {
        replace_creatinine(model, &mut values, creatinine)?;
    }
    if units == CholesterolUnits::MmolPerL {
        for name in CHOLESTEROL_INPUTS {
            if let Some(InputValue::Number(x)) = values.get_mut(name) {
                *x *= MG_DL_PER_MMOL_L;
            }
        }
    }
    match model.equation().check(&values) {
        Ok(inputs) => Ok(Intake::Eligible(inputs)),
        Err(InputError::OutOfRange {
            field,
            min,
            max,
            unit,
        }) if units == CholesterolUnits::MmolPerL
            && CHOLESTEROL_INPUTS.contains(&field.as_str()) =>
        {
            // The range in the units the clinic gave.
            let si = |text: String| {
                text.parse::<f64>()
                    .map(|v| trim(v / MG_DL_PER_MMOL_L))
                    .unwrap_or(text)
            };
            debug_assert_eq!(unit, "mg/dL");
            Err(InputError::OutOfRange {
                field,
                min: si(min),
                max: si(max),
                unit: "mmol/L".into(),
            }
            .into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Put the CKD-EPI 2021 eGFR in place of `serum_creatinine`; refuses a row giving both, a
/// creatinine outside [`CREATININE_RANGE`], or one whose eGFR is outside the equation's range.
fn replace_creatinine(
    model: &EquationModel,
    values: &mut BTreeMap<String, InputValue>,
    creatinine: InputValue,
) -> Result<(), IntakeError> {
    let Some((egfr_min, egfr_max, egfr_unit)) = numeric_range(model, EGFR) else {
        return Err(IntakeError::CreatinineNotRead);
    };
    if values.contains_key(EGFR) {
        return Err(IntakeError::BothKidneyMeasures);
    }
    let (lo, hi) = CREATININE_RANGE;
    let creatinine_error = || {
        IntakeError::from(InputError::OutOfRange {
            field: SERUM_CREATININE.into(),
            min: lo.to_string(),
            max: hi.to_string(),
            unit: "mg/dL".into(),
        })
    };
    let scr = match creatinine {
        InputValue::Number(x) if x.is_finite() && (lo..=hi).contains(&x) => x,
        _ => return Err(creatinine_error()),
    };
    // Age and sex are checked with the rest; without them there is no eGFR to report.
    let (Some(age), Some(InputValue::Level(sex))) = (number(values, AGE), values.get(SEX)) else {
        return Ok(());
    };
    let egfr = ckd_epi_2021(scr, age, sex == "female");
    if !(egfr_min..=egfr_max).contains(&egfr) {
        return Err(IntakeError::EgfrOutOfRange {
            min: egfr_min.to_string(),
            max: egfr_max.to_string(),
            unit: egfr_unit,
        });
    }
    values.insert(EGFR.into(), InputValue::Number(egfr));
    Ok(())
}
