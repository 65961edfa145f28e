//! Intake for the PREVENT equations: known CVD and ages outside 30-79 are `not_eligible`
//! (before any other check), creatinine becomes eGFR (CKD-EPI 2021), mmol/L cholesterol is
//! converted, every other problem names its field and range but never the value; and the
//! result check accepts exactly the reference engine's index. For the 2013 PCE: the `race`
//! column (black | white | other, `other` on the white equations), ages outside 40-79
//! `not_eligible`, and the result check on the recombined accumulator of its three outputs.

use std::collections::BTreeMap;

use pulsecure_core::domain::equation::{InputError, InputValue};
use pulsecure_core::domain::equation_intake::{
    ckd_epi_2021, intake, CholesterolUnits, Intake, IntakeError, NotEligible, KNOWN_CVD_REASON,
};
use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::usecase::result_check::{checked_equation_assessment, ResultRefused};

fn model() -> EquationModel {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/prevent-cvd-10y/v2/model.json"
    );
    EquationModel::from_json(&std::fs::read_to_string(path).expect("release")).expect("valid")
}

/// The first published PREVENT vector (female, 50): 14.7 %.
fn row() -> BTreeMap<String, InputValue> {
    let n = |x: f64| InputValue::Number(x);
    BTreeMap::from([
        ("age".into(), n(50.0)),
        ("sex".into(), InputValue::Level("female".into())),
        ("sbp".into(), n(160.0)),
        ("bp_tx".into(), n(1.0)),
        ("total_c".into(), n(200.0)),
        ("hdl_c".into(), n(45.0)),
        ("statin".into(), n(0.0)),
        ("dm".into(), n(1.0)),
        ("smoking".into(), n(0.0)),
        ("egfr".into(), n(90.0)),
        ("known_cvd".into(), n(0.0)),
    ])
}

fn with(
    mut row: BTreeMap<String, InputValue>,
    name: &str,
    value: f64,
) -> BTreeMap<String, InputValue> {
    row.insert(name.into(), InputValue::Number(value));
    row
}

fn eligible(result: Result<Intake, IntakeError>) -> pulsecure_core::domain::equation::Inputs {
    match result {
        Ok(Intake::Eligible(inputs)) => inputs,
        other => panic!("expected eligible, got {other:?}"),
    }
}

#[test]
fn a_valid_row_gives_the_published_risk() {
    let m = model();
    let inputs = eligible(intake(&m, &row(), CholesterolUnits::MgPerDl));
    let trace = m.run(&inputs);
    assert_eq!(trace.index, 2355, "the golden vector's index");
    assert_eq!(trace.probability, 1468);
    assert!((m.equation().probability(&inputs) - 0.147).abs() < 0.0005);
}

#[test]
fn known_cvd_is_not_eligible_whatever_else_the_row_holds() {
    let m = model();
    let row = with(with(row(), "known_cvd", 1.0), "sbp", 400.0);
    let decision = intake(&m, &row, CholesterolUnits::MgPerDl).expect("a decision");
    assert_eq!(decision, Intake::NotEligible(NotEligible::KnownCvd));
    assert_eq!(NotEligible::KnownCvd.reason(), KNOWN_CVD_REASON);
}

#[test]
fn ages_outside_the_equation_are_not_eligible_not_errors() {
    let m = model();
    for age in [29.0, 80.0, 95.0] {
        assert_eq!(
            intake(&m, &with(row(), "age", age), CholesterolUnits::MgPerDl).expect("decision"),
            Intake::NotEligible(NotEligible::Age {
                min: 30.0,
                max: 79.0
            }),
            "age {age}"
        );
    }
    eligible(intake(
        &m,
        &with(row(), "age", 30.0),
        CholesterolUnits::MgPerDl,
    ));
    eligible(intake(
        &m,
        &with(row(), "age", 79.0),
        CholesterolUnits::MgPerDl,
    ));
}

#[test]
fn an_out_of_range_value_names_the_field_and_range_never_the_value() {
    let m = model();
    let err = intake(&m, &with(row(), "sbp", 231.0), CholesterolUnits::MgPerDl)
        .expect_err("out of range");
    assert_eq!(err.field(), Some("sbp"));
    let text = err.to_string();
    assert!(
        text.contains("90") && text.contains("180") && text.contains("mmHg"),
        "{text}"
    );
    assert!(!text.contains("231"), "{text}");
    let missing = row()
        .into_iter()
        .filter(|(k, _)| k != "known_cvd")
        .collect();
    assert_eq!(
        intake(&m, &missing, CholesterolUnits::MgPerDl),
        Err(IntakeError::Input(InputError::Missing {
            field: "known_cvd".into()
        }))
    );
    let err = intake(
        &m,
        &with(row(), "known_cvd", 2.0),
        CholesterolUnits::MgPerDl,
    )
    .expect_err("not binary");
    assert_eq!(err.field(), Some("known_cvd"));
}

#[test]
fn creatinine_replaces_egfr_by_ckd_epi_2021() {
    // Published CKD-EPI 2021 examples: a 50-year-old woman at 0.7 mg/dL ≈ 105, a
    // 50-year-old man at 0.9 mg/dL ≈ 103 (142 · 0.9938^50 · 1.012 and 142 · 0.9938^50).
    assert!((ckd_epi_2021(0.7, 50.0, true) - 142.0 * 0.9938f64.powi(50) * 1.012).abs() < 1e-9);
    assert!((ckd_epi_2021(0.9, 50.0, false) - 142.0 * 0.9938f64.powi(50)).abs() < 1e-9);
    assert!(
        (ckd_epi_2021(1.4, 50.0, false) - 142.0 * (1.4f64 / 0.9).powf(-1.2) * 0.9938f64.powi(50))
            .abs()
            < 1e-9
    );
    assert!(
        (ckd_epi_2021(0.5, 50.0, true)
            - 142.0 * (0.5f64 / 0.7).powf(-0.241) * 0.9938f64.powi(50) * 1.012)
            .abs()
            < 1e-9
    );

    let m = model();
    let mut by_creatinine = row();
    by_creatinine.remove("egfr");
    by_creatinine.insert("serum_creatinine".into(), InputValue::Number(0.7));
    let inputs = eligible(intake(&m, &by_creatinine, CholesterolUnits::MgPerDl));
    let egfr = inputs.number("egfr").expect("egfr derived");
    assert!((egfr - ckd_epi_2021(0.7, 50.0, true)).abs() < 1e-9);

    let both = with(row(), "serum_creatinine", 0.7);
    assert_eq!(
        intake(&m, &both, CholesterolUnits::MgPerDl),
        Err(IntakeError::BothKidneyMeasures)
    );
    by_creatinine.insert("serum_creatinine".into(), InputValue::Number(9.0));
    let err = intake(&m, &by_creatinine, CholesterolUnits::MgPerDl).expect_err("eGFR < 15");
    assert!(matches!(err, IntakeError::EgfrOutOfRange { .. }), "{err}");
    assert_eq!(err.field(), Some("serum_creatinine"));
}

#[test]
fn si_cholesterol_is_converted_and_its_range_shown_in_mmol() {
    let m = model();
    let si = with(with(row(), "total_c", 200.0 / 38.67), "hdl_c", 45.0 / 38.67);
    let inputs = eligible(intake(&m, &si, CholesterolUnits::MmolPerL));
    assert!((inputs.number("total_c").expect("total_c") - 200.0).abs() < 1e-9);
    assert_eq!(m.run(&inputs).index, 2355);
    let err = intake(
        &m,
        &with(row(), "total_c", 200.0),
        CholesterolUnits::MmolPerL,
    )
    .expect_err("200 mmol/L is out of range");
    let text = err.to_string();
    assert!(
        text.contains("mmol/L") && text.contains("3.36") && text.contains("8.28"),
        "{text}"
    );
}

#[test]
fn only_the_reference_accumulator_is_accepted_to_the_last_bit() {
    let m = model();
    let inputs = eligible(intake(&m, &row(), CholesterolUnits::MgPerDl));
    let reference = m.run(&inputs);
    assert_eq!(reference.index, 2355, "the golden vector's index");
    let exact = (reference.acc + m.index().offset) as u64;
    let a = checked_equation_assessment(&m, &inputs, exact).expect("the reference's accumulator");
    assert_eq!(a.probability_code, 1468);
    assert!((a.probability - 0.1468).abs() < 1e-12);
    assert_eq!(
        m.output().categories[m.category_of(a.probability_code)].name,
        "intermediate"
    );
    // One unit off stays in the same index bin (2^14 units wide) — and is still refused.
    assert_eq!(m.index_of(reference.acc + 1), reference.index);
    for wrong in [exact + 1, exact - 1, exact + (1 << 14), u64::MAX] {
        assert_eq!(
            checked_equation_assessment(&m, &inputs, wrong),
            Err(ResultRefused::DiffersFromReference)
        );
    }
}

fn pce() -> EquationModel {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/pce-ascvd-10y/v1/model.json"
    );
    EquationModel::from_json(&std::fs::read_to_string(path).expect("release")).expect("valid")
}

/// The guideline's Table A patient (55, TC 213, HDL 50, untreated SBP 120, non-smoker, no
/// diabetes) as a clinic row for the PCE, with `race`.
fn pce_row(sex: &str, race: &str) -> BTreeMap<String, InputValue> {
    let n = |x: f64| InputValue::Number(x);
    BTreeMap::from([
        ("age".into(), n(55.0)),
        ("sex".into(), InputValue::Level(sex.into())),
        ("race".into(), InputValue::Level(race.into())),
        ("sbp".into(), n(120.0)),
        ("bp_tx".into(), n(0.0)),
        ("total_c".into(), n(213.0)),
        ("hdl_c".into(), n(50.0)),
        ("dm".into(), n(0.0)),
        ("smoking".into(), n(0.0)),
        ("known_cvd".into(), n(0.0)),
    ])
}

#[test]
fn pce_reads_race_and_other_uses_the_white_equations() {
    let m = pce();
    // Table A: white women 2.1 %, African American women 3.0 %, white men 5.3 % (5.38 exact),
    // African American men 6.1 %.
    for (sex, race, published) in [
        ("female", "white", 0.021),
        ("female", "black", 0.030),
        ("male", "white", 0.0538),
        ("male", "black", 0.061),
        ("female", "other", 0.021),
        ("male", "other", 0.0538),
    ] {
        let inputs = eligible(intake(&m, &pce_row(sex, race), CholesterolUnits::MgPerDl));
        let trace = m.run(&inputs);
        let p = f64::from(trace.probability) / 10_000.0;
        assert!((p - published).abs() <= 0.001, "{sex} {race}: {p}");
        let group = &m.equation().groups[trace.group].name;
        let expected = if race == "black" { "aa" } else { "white" };
        assert_eq!(group, &format!("{expected}_{sex}"));
    }
    let other = eligible(intake(
        &m,
        &pce_row("male", "other"),
        CholesterolUnits::MgPerDl,
    ));
    let white = eligible(intake(
        &m,
        &pce_row("male", "white"),
        CholesterolUnits::MgPerDl,
    ));
    assert_eq!(m.run(&other), m.run(&white));
    // An unknown level or a missing race names the field.
    let mut unknown = pce_row("male", "aa");
    let err = intake(&m, &unknown, CholesterolUnits::MgPerDl).expect_err("not a level");
    assert_eq!(err.field(), Some("race"));
    unknown.remove("race");
    let err = intake(&m, &unknown, CholesterolUnits::MgPerDl).expect_err("missing");
    assert_eq!(err.field(), Some("race"));
}

#[test]
fn pce_ages_outside_40_to_79_are_not_eligible() {
    let m = pce();
    for age in [30.0, 39.0, 39.99, 80.0] {
        assert_eq!(
            intake(
                &m,
                &with(pce_row("female", "black"), "age", age),
                CholesterolUnits::MgPerDl
            )
            .expect("decision"),
            Intake::NotEligible(NotEligible::Age {
                min: 40.0,
                max: 79.0
            }),
            "age {age}"
        );
    }
    for age in [40.0, 79.0] {
        eligible(intake(
            &m,
            &with(pce_row("male", "other"), "age", age),
            CholesterolUnits::MgPerDl,
        ));
    }
    let cvd = with(pce_row("male", "white"), "known_cvd", 1.0);
    assert_eq!(
        intake(&m, &cvd, CholesterolUnits::MgPerDl).expect("decision"),
        Intake::NotEligible(NotEligible::KnownCvd)
    );
    // The PCE's SBP range is 90-200 (PREVENT's is 90-180); egfr is not one of its inputs.
    eligible(intake(
        &m,
        &with(pce_row("male", "white"), "sbp", 200.0),
        CholesterolUnits::MgPerDl,
    ));
    let err = intake(
        &m,
        &with(pce_row("male", "white"), "sbp", 201.0),
        CholesterolUnits::MgPerDl,
    )
    .expect_err("out of range");
    assert!(err.to_string().contains("200"), "{err}");
    // A clinic file holds every equation's columns: the PCE ignores statin, egfr and
    // serum_creatinine (PREVENT ignores race); any other column is still refused.
    let plain = eligible(intake(
        &m,
        &pce_row("male", "white"),
        CholesterolUnits::MgPerDl,
    ));
    for (column, value) in [("statin", 1.0), ("egfr", 3.0), ("serum_creatinine", 0.9)] {
        let full = with(pce_row("male", "white"), column, value);
        assert_eq!(
            eligible(intake(&m, &full, CholesterolUnits::MgPerDl)),
            plain,
            "{column}"
        );
    }
    let unknown = with(pce_row("male", "white"), "bmi", 30.0);
    let err = intake(&m, &unknown, CholesterolUnits::MgPerDl).expect_err("not a clinic column");
    assert!(
        matches!(err, IntakeError::Input(InputError::Unexpected { .. })),
        "{err}"
    );
    let prevent = model();
    let mut with_race = row();
    with_race.insert("race".into(), InputValue::Level("black".into()));
    assert_eq!(
        eligible(intake(&prevent, &with_race, CholesterolUnits::MgPerDl)),
        eligible(intake(&prevent, &row(), CholesterolUnits::MgPerDl))
    );
}

#[test]
fn pce_result_check_accepts_only_the_recombined_reference_accumulator() {
    let m = pce();
    let inputs = eligible(intake(
        &m,
        &pce_row("female", "black"),
        CholesterolUnits::MgPerDl,
    ));
    let reference = m.run(&inputs);
    assert_eq!(m.recombine(&reference.outputs), reference.acc);
    let exact = (reference.acc + m.index().offset) as u64;
    let a = checked_equation_assessment(&m, &inputs, exact).expect("the reference's accumulator");
    assert_eq!(a.probability_code, reference.probability);
    assert_eq!((a.model_id.as_str(), a.model_version), ("pce-ascvd-10y", 1));
    // One unit off in output j is 2^(8 j) units off in the accumulator: refused.
    for j in 0..3u32 {
        assert_eq!(
            checked_equation_assessment(&m, &inputs, exact + (1 << (8 * j))),
            Err(ResultRefused::DiffersFromReference)
        );
    }
}
