//! Each kind of bad patient value is refused with an error naming the field and the range,
//! without echoing the value (on v1's fields, and on v2's ordinal answer).

mod common;

use std::collections::BTreeMap;

use pulsecure_core::{GivenField, PatientError, PatientFeatures};

fn valid() -> BTreeMap<String, f64> {
    let model = common::model_v1();
    model
        .features()
        .iter()
        .map(|f| (f.name.clone(), (f.clamp_min + f.clamp_max) / 2.0))
        .map(|(n, v)| if v == 0.5 { (n, 1.0) } else { (n, v) })
        .collect()
}

fn err_for(name: &str, value: f64) -> PatientError {
    let model = common::model_v1();
    let mut values = valid();
    values.insert(name.to_string(), value);
    PatientFeatures::new(model.features(), &values).expect_err("refused")
}

#[test]
fn a_valid_patient_is_accepted() {
    let model = common::model_v1();
    assert!(PatientFeatures::new(model.features(), &valid()).is_ok());
}

#[test]
fn nan_and_infinities_are_refused() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let e = err_for("age", bad);
        assert!(matches!(e, PatientError::NotFinite { .. }), "{e:?}");
        assert_eq!(e.field(), Some("age"));
        assert!(e.to_string().contains("18 to 120 years"), "{e}");
    }
}

#[test]
fn out_of_range_names_field_side_and_range() {
    let e = err_for("systolic_bp", 400.0);
    assert_eq!(
        e,
        PatientError::OutOfRange {
            field: "systolic_bp".into(),
            side: "above",
            allowed: "60 to 260 mmHg".into()
        }
    );
    let msg = e.to_string();
    assert!(msg.contains("systolic_bp") && msg.contains("60 to 260 mmHg"));
    assert!(!msg.contains("400"), "value must not be echoed: {msg}");
    assert!(matches!(
        err_for("age", 3.0),
        PatientError::OutOfRange { side: "below", .. }
    ));
}

#[test]
fn binary_answers_must_be_zero_or_one() {
    let e = err_for("told_high_bp", 0.5);
    assert!(matches!(e, PatientError::NotBinary { .. }));
    assert_eq!(e.field(), Some("told_high_bp"));
    assert!(matches!(
        err_for("told_high_bp", 2.0),
        PatientError::NotBinary { .. }
    ));
}

#[test]
fn missing_field_is_named() {
    let model = common::model_v1();
    let mut values = valid();
    values.remove("told_diabetes");
    let e = PatientFeatures::new(model.features(), &values).expect_err("refused");
    assert!(matches!(e, PatientError::Missing { .. }));
    assert_eq!(e.field(), Some("told_diabetes"));
}

#[test]
fn unknown_field_lists_expected_ones() {
    let model = common::model_v1();
    let mut values = valid();
    values.insert("height".into(), 170.0);
    let e = PatientFeatures::new(model.features(), &values).expect_err("refused");
    assert!(matches!(e, PatientError::Unknown { .. }));
    assert!(e.to_string().contains("age, told_high_bp"), "{e}");
}

/// A name the model does not know may be patient data typed in the wrong place: the error
/// gives its position in the input, never its text.
#[test]
fn unknown_field_is_named_by_position_never_by_text() {
    let model = common::model_v1();
    let secret = "Jane Doe DOB 1961-04-02 NHS 943 476 5919";
    let mut given = GivenField::in_name_order(&valid());
    given.insert(
        2,
        GivenField {
            position: 0,
            name: secret.into(),
            value: 1.0,
        },
    );
    for (i, field) in given.iter_mut().enumerate() {
        field.position = i + 1;
    }
    let e = PatientFeatures::from_given(model.features(), &given).expect_err("refused");
    assert_eq!(e.position(), Some(3));
    assert_eq!(e.field(), None);
    let text = format!("{e} {e:?}");
    assert!(
        text.starts_with("unknown field #3 (expected one of: age,"),
        "{text}"
    );
    assert!(!text.contains("Jane") && !text.contains("943"), "{text}");
}

#[test]
fn a_feature_given_twice_is_refused_by_position() {
    let model = common::model_v1();
    let mut given = GivenField::in_name_order(&valid());
    let position = given.len() + 1;
    let again = GivenField {
        position,
        ..given[0].clone()
    };
    given.push(again);
    let e = PatientFeatures::from_given(model.features(), &given).expect_err("refused");
    assert_eq!(
        e,
        PatientError::Repeated {
            field: "age".into(),
            position,
            first: 1
        }
    );
}

#[test]
fn debug_output_hides_values() {
    let model = common::model_v1();
    let mut values = valid();
    values.insert("age".into(), 67.25);
    let p = PatientFeatures::new(model.features(), &values).expect("valid");
    assert!(!format!("{p:?}").contains("67.25"));
}

#[test]
fn an_ordinal_answer_must_be_one_of_the_numbered_answers() {
    let model = common::model_v2();
    let spec = model
        .features()
        .iter()
        .find(|f| f.name == "general_health")
        .expect("v2 asks for self-rated health");
    let mut values: BTreeMap<String, f64> = model
        .features()
        .iter()
        .map(|f| (f.name.clone(), f.clamp_min))
        .collect();
    for answer in [1.0, 2.0, 3.0, 4.0] {
        values.insert(spec.name.clone(), answer);
        assert!(PatientFeatures::new(model.features(), &values).is_ok());
        assert!(spec.answer_label(answer).is_some());
    }
    assert_eq!(spec.answer_label(4.0), Some("poor"));
    assert_eq!(spec.display_value(1.0), "1 (excellent or very good)");
    for bad in [2.5, 0.0, 5.0] {
        values.insert(spec.name.clone(), bad);
        let e = PatientFeatures::new(model.features(), &values).expect_err("refused");
        assert_eq!(e.field(), Some("general_health"));
        let text = e.to_string();
        assert!(
            text.contains("1 (excellent or very good), 2 (good), 3 (fair), 4 (poor)"),
            "{text}"
        );
        assert!(
            !text.contains(&bad.to_string()) || bad == 5.0 && !text.contains("5.0"),
            "{text}"
        );
    }
    let e = {
        values.insert(spec.name.clone(), 2.5);
        PatientFeatures::new(model.features(), &values).expect_err("refused")
    };
    assert!(matches!(e, PatientError::NotAnAnswer { .. }), "{e:?}");
}
