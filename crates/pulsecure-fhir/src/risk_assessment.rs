//! Results as FHIR R4 `RiskAssessment` resources: one per patient and model, `status`
//! final, an `identifier` stable per patient, model and version, the model as `method`, the
//! resources read as `basis`, and one `prediction` with the outcome, `probabilityDecimal` on
//! the percent scale R4 states (element comment: "Decimal values are expressed as
//! percentages as well (max = 100)"; invariant ras-2, probability decimal <= 100), the ten
//! years from the screening date as `whenPeriod` (R4's `whenRange` is an age range of the
//! subject) and the category as `qualitativeRisk`; a `note` carries the screening-aid
//! disclaimer and names the scale. A patient outside the model's population gets a
//! `RiskAssessment` without prediction whose note says why.

use serde_json::{json, Value};

/// Code system of Pulsecure's model ids (`method`).
pub const MODEL_SYSTEM: &str = "https://pulsecure.dev/fhir/model";
/// System of the assessments' identifiers (`<model>-v<version>-<patient id>`).
pub const IDENTIFIER_SYSTEM: &str = "https://pulsecure.dev/fhir/screening";
/// Code system of the categories (`qualitativeRisk`).
pub const CATEGORY_SYSTEM: &str = "https://pulsecure.dev/fhir/risk-category";
/// The note every assessment carries.
pub const DISCLAIMER: &str = "Screening aid, not a diagnosis: computed under homomorphic \
encryption from the resources in basis; probabilityDecimal is a percentage (0-100); \
interpret with a clinician and the model's card.";

/// What a model predicts, in words, by model id (`RiskAssessment.prediction.outcome`).
pub fn outcome_of(model_id: &str) -> &'static str {
    match model_id {
        "prevent-cvd-10y" => "10-year total cardiovascular disease (AHA PREVENT base)",
        "prevent-ascvd-10y" => "10-year atherosclerotic cardiovascular disease (AHA PREVENT base)",
        "pce-ascvd-10y" => {
            "10-year atherosclerotic cardiovascular disease (2013 Pooled Cohort Equations)"
        }
        "cvd-lr" => "Lab-free pre-screen: AHA PREVENT base 10-year total CVD at or above 7.5 %",
        _ => "10-year cardiovascular risk",
    }
}

/// One result to write.
pub struct Assessment<'a> {
    /// The `Patient` id.
    pub patient_id: &'a str,
    /// When the screening ran (FHIR dateTime).
    pub occurrence: &'a str,
    /// The screening date the inputs were read for (`YYYY-MM-DD`): the prediction covers
    /// the ten years from it.
    pub as_of: (i64, i64, i64),
    /// The model id and version.
    pub model_id: &'a str,
    /// Its version.
    pub model_version: u64,
    /// What is predicted, in words (`10-year total cardiovascular disease`).
    pub outcome: &'a str,
    /// The prediction, or why there is none.
    pub result: AssessmentResult<'a>,
    /// References to the resources read (`Observation/...`).
    pub basis: &'a [String],
}

/// The prediction or its absence.
pub enum AssessmentResult<'a> {
    /// A probability (0-1) and its category name.
    Predicted {
        /// Probability, 0-1.
        probability: f64,
        /// Category name.
        category: &'a str,
    },
    /// Outside the model's population.
    NotEligible {
        /// Why.
        reason: &'a str,
    },
}

/// The `RiskAssessment` resource for `a`.
pub fn risk_assessment(a: &Assessment<'_>) -> Value {
    let (y, m, d) = a.as_of;
    // Ten years on; 29 February becomes 28 February in a year without it.
    let end_day = if (m, d) == (2, 29) && !is_leap(y + 10) {
        28
    } else {
        d
    };
    let mut resource = json!({
        "resourceType": "RiskAssessment",
        "identifier": [{
            "system": IDENTIFIER_SYSTEM,
            "value": format!("{}-v{}-{}", a.model_id, a.model_version, a.patient_id),
        }],
        "status": "final",
        "subject": { "reference": format!("Patient/{}", a.patient_id) },
        "occurrenceDateTime": a.occurrence,
        "method": {
            "coding": [{
                "system": MODEL_SYSTEM,
                "code": a.model_id,
                "version": a.model_version.to_string(),
            }],
            "text": format!("{} v{}", a.model_id, a.model_version),
        },
        "basis": a.basis.iter().map(|r| json!({ "reference": r })).collect::<Vec<_>>(),
    });
    let note = match &a.result {
        AssessmentResult::Predicted {
            probability,
            category,
        } => {
            // Percent, rounded to 1e-6 % (far below the model's own resolution).
            let percent = (probability * 100.0 * 1e6).round() / 1e6;
            resource["prediction"] = json!([{
                "outcome": { "text": a.outcome },
                "probabilityDecimal": percent,
                "whenPeriod": {
                    "start": format!("{y:04}-{m:02}-{d:02}"),
                    "end": format!("{:04}-{m:02}-{end_day:02}", y + 10),
                },
                "qualitativeRisk": {
                    "coding": [{ "system": CATEGORY_SYSTEM, "code": category }],
                    "text": category,
                },
            }]);
            DISCLAIMER.to_string()
        }
        AssessmentResult::NotEligible { reason } => {
            format!("No estimate: not eligible for this model ({reason}). {DISCLAIMER}")
        }
    };
    resource["note"] = json!([{ "text": note }]);
    resource
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prediction_is_on_the_percent_scale_with_a_ten_year_range() {
        let basis = vec!["Patient/p1".to_string(), "Observation/o1".to_string()];
        let r = risk_assessment(&Assessment {
            patient_id: "p1",
            occurrence: "2026-06-30T12:00:00Z",
            as_of: (2026, 6, 30),
            model_id: "prevent-cvd-10y",
            model_version: 2,
            outcome: "10-year total CVD",
            result: AssessmentResult::Predicted {
                probability: 0.0734,
                category: "intermediate",
            },
            basis: &basis,
        });
        let p = &r["prediction"][0];
        assert_eq!(p["probabilityDecimal"], json!(7.34));
        assert!(p["probabilityDecimal"].as_f64().is_some_and(|x| x <= 100.0));
        assert_eq!(p["whenPeriod"]["start"], json!("2026-06-30"));
        assert_eq!(p["whenPeriod"]["end"], json!("2036-06-30"));
        assert_eq!(r["identifier"][0]["value"], json!("prevent-cvd-10y-v2-p1"));
        assert_eq!(p["qualitativeRisk"]["text"], json!("intermediate"));
        assert_eq!(r["basis"][1]["reference"], json!("Observation/o1"));
        assert_eq!(r["status"], json!("final"));
        assert!(r["note"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("not a diagnosis")));
    }

    #[test]
    fn a_patient_not_eligible_gets_no_prediction_and_the_reason() {
        let r = risk_assessment(&Assessment {
            patient_id: "p2",
            occurrence: "2026-06-30T12:00:00Z",
            as_of: (2026, 6, 30),
            model_id: "prevent-cvd-10y",
            model_version: 2,
            outcome: "10-year total CVD",
            result: AssessmentResult::NotEligible {
                reason: "already diagnosed",
            },
            basis: &[],
        });
        assert!(r.get("prediction").is_none());
        assert!(r["note"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("already diagnosed")));
    }
}
