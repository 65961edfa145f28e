//! Results as FHIR R4 `RiskAssessment` resources: one per patient and model, `status`
//! final, the model as `method`, the resources read as `basis`, and one `prediction` with
//! the outcome, `probabilityDecimal` on the percent scale R4 states (element comment:
//! "Decimal values are expressed as percentages as well (max = 100)"; invariant ras-2,
//! probability decimal <= 100), a 10-year `whenRange` and the category as `qualitativeRisk`;
//! a `note` carries the screening-aid disclaimer. A patient outside the model's population
//! gets a `RiskAssessment` without prediction whose note says why.

use serde_json::{json, Value};

/// Code system of Pulsecure's model ids (`method`).
pub const MODEL_SYSTEM: &str = "https://pulsecure.dev/fhir/model";
/// Code system of the categories (`qualitativeRisk`).
pub const CATEGORY_SYSTEM: &str = "https://pulsecure.dev/fhir/risk-category";
/// The note every assessment carries.
pub const DISCLAIMER: &str = "Screening aid, not a diagnosis: computed under homomorphic \
encryption from the resources in basis; interpret with a clinician and the model's card.";

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
    let mut resource = json!({
        "resourceType": "RiskAssessment",
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
                "whenRange": {
                    "low": { "value": 0, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a" },
                    "high": { "value": 10, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a" },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prediction_is_on_the_percent_scale_with_a_ten_year_range() {
        let basis = vec!["Patient/p1".to_string(), "Observation/o1".to_string()];
        let r = risk_assessment(&Assessment {
            patient_id: "p1",
            occurrence: "2026-06-30T12:00:00Z",
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
        assert_eq!(p["whenRange"]["high"]["value"], json!(10));
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
