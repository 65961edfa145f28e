//! The population rule of a schema-1 model (cvd-lr v3: adults 30-79 without known CVD):
//! known CVD decides first, then the age range, then the features; malformed input is an
//! error before any decision; a model that cannot check its population is refused at load.

use pulsecure_core::domain::clinic_columns::KNOWN_CVD;
use pulsecure_core::domain::eligibility::NotEligible;
use pulsecure_core::domain::population::{intake_schema1, Screenable};
use pulsecure_core::{GivenField, Model, PatientError};

const V3: &str = include_str!("../../../models/cvd-lr/v3/model.json");
const V2: &str = include_str!("../../../models/cvd-lr/v2/model.json");

fn given(pairs: &[(&str, f64)]) -> Vec<GivenField> {
    pairs
        .iter()
        .enumerate()
        .map(|(i, (name, value))| GivenField {
            position: i + 1,
            name: (*name).to_string(),
            value: *value,
        })
        .collect()
}

fn eligible_row() -> Vec<(&'static str, f64)> {
    vec![
        ("known_cvd", 0.0),
        ("age", 55.0),
        ("told_diabetes", 0.0),
        ("systolic_bp", 132.0),
        ("current_smoker", 1.0),
        ("male", 1.0),
        ("told_high_bp", 0.0),
    ]
}

fn decide(model: &Model, row: &[(&str, f64)]) -> Result<Screenable, PatientError> {
    intake_schema1(model.features(), model.population(), &given(row))
}

#[test]
fn v3_declares_its_population() {
    let model = Model::from_json(V3).expect("v3 loads");
    let p = model.population().expect("v3 has a population");
    assert_eq!((p.age_min, p.age_max), (30.0, 79.0));
    assert!(p.excludes_known_cvd());
    assert_eq!(p.extra_fields(), &[KNOWN_CVD]);
    let target = model.document().target.as_ref().expect("target");
    assert!(target.is_equation_pre_screen());
    assert_eq!(
        target.label_rule(),
        Some("PREVENT base 10-year total CVD risk >= 7.5 %")
    );
    // v1/v2 have none: everyone their features accept is screened.
    assert!(Model::from_json(V2).expect("v2").population().is_none());
}

#[test]
fn known_cvd_decides_first_then_age_then_the_features() {
    let model = Model::from_json(V3).expect("v3");
    assert!(matches!(
        decide(&model, &eligible_row()),
        Ok(Screenable::Eligible(_))
    ));
    // Known CVD: not eligible whatever else the row holds, even an implausible value.
    let mut row = eligible_row();
    row[0].1 = 1.0;
    row[3].1 = 999.0;
    assert_eq!(
        decide(&model, &row),
        Ok(Screenable::NotEligible(NotEligible::KnownCvd))
    );
    // Ages outside 30-79: not eligible, not an input error.
    for age in [29.0, 80.0, 18.0] {
        let mut row = eligible_row();
        row[1].1 = age;
        assert_eq!(
            decide(&model, &row),
            Ok(Screenable::NotEligible(NotEligible::Age {
                min: 30.0,
                max: 79.0
            })),
            "age {age}"
        );
    }
    // Inside the population, the features are checked as always.
    let mut row = eligible_row();
    row[3].1 = 999.0;
    let e = decide(&model, &row).expect_err("implausible SBP");
    assert_eq!(e.field(), Some("systolic_bp"));
}

#[test]
fn known_cvd_must_be_given_as_yes_or_no_once() {
    let model = Model::from_json(V3).expect("v3");
    let missing: Vec<_> = eligible_row().into_iter().skip(1).collect();
    let e = decide(&model, &missing).expect_err("missing");
    assert!(matches!(&e, PatientError::Missing { field, .. } if field == KNOWN_CVD));
    let mut row = eligible_row();
    row[0].1 = 2.0;
    let e = decide(&model, &row).expect_err("not yes/no");
    assert!(matches!(&e, PatientError::NotBinary { field, .. } if field == KNOWN_CVD));
    assert!(
        !e.to_string().contains('2'),
        "the value is never echoed: {e}"
    );
    let mut row = eligible_row();
    row.push(("known_cvd", 0.0));
    let e = decide(&model, &row).expect_err("repeated");
    assert_eq!(e.position(), Some(8));
    // A repeated feature too, before the age decides anything (25 then 55: not a decision
    // on the first copy).
    let mut row = eligible_row();
    row[1].1 = 25.0;
    row.push(("age", 55.0));
    let e = decide(&model, &row).expect_err("repeated age");
    assert!(matches!(&e, PatientError::Repeated { field, first: 2, .. } if field == "age"));
    // An unknown field is an error before any decision (even with known CVD), named by
    // its position only, and the expected list includes known_cvd.
    let mut row = eligible_row();
    row[0].1 = 1.0;
    row.push(("Jane Doe", 1.0));
    let e = decide(&model, &row).expect_err("unknown");
    assert_eq!(e.position(), Some(8));
    assert!(!e.to_string().contains("Jane"), "{e}");
    assert!(e.to_string().contains("told_high_bp, known_cvd"), "{e}");
}

#[test]
fn a_model_without_a_population_does_not_read_known_cvd() {
    let model = Model::from_json(V2).expect("v2");
    let row = [
        ("known_cvd", 1.0),
        ("age", 55.0),
        ("told_high_bp", 0.0),
        ("serum_creatinine", 0.9),
        ("told_diabetes", 0.0),
        ("chest_pain_ever", 0.0),
        ("general_health", 3.0),
        ("male", 1.0),
    ];
    let e = decide(&model, &row).expect_err("unknown to v2");
    assert_eq!(e.position(), Some(1));
}

#[test]
fn a_population_the_model_cannot_check_is_refused_at_load() {
    let mut doc: serde_json::Value = serde_json::from_str(V3).expect("json");
    doc["target"]["population"]["age_min"] = 80.into();
    let e = Model::from_json(&doc.to_string()).expect_err("inverted range");
    assert!(e.to_string().contains("target.population"), "{e}");
    let mut doc: serde_json::Value = serde_json::from_str(V3).expect("json");
    doc["features"][0]["name"] = "age_years".into();
    let e = Model::from_json(&doc.to_string()).expect_err("no age feature");
    assert!(e.to_string().contains("target.population"), "{e}");
    let mut doc: serde_json::Value = serde_json::from_str(V3).expect("json");
    doc["target"]["population"]["surprise"] = 1.into();
    assert!(Model::from_json(&doc.to_string()).is_err(), "unknown field");
}
