//! A malformed model file gives a precise error naming the field, never a panic.

mod common;

use pulsecure_core::{Model, ModelError, ModelLimit};
use serde_json::{json, Value};

fn load(value: &Value) -> Result<Model, ModelError> {
    Model::from_json(&value.to_string())
}

fn invalid_field(value: &Value) -> String {
    match load(value) {
        Err(ModelError::Limit { field, .. }) => field,
        other => panic!("expected ModelError::Limit, got {other:?}"),
    }
}

#[test]
fn embedded_model_is_valid() {
    let model = common::default_model();
    assert_eq!(model.id(), "cvd-lr");
    assert_eq!(model.lut().len(), 1 << model.index_spec().bits);
}

#[test]
fn not_json_is_malformed() {
    assert!(matches!(
        Model::from_json("{not json"),
        Err(ModelError::Malformed(_))
    ));
    assert!(matches!(
        Model::from_json(""),
        Err(ModelError::Malformed(_))
    ));
}

#[test]
fn missing_field_is_refused_and_named() {
    let mut v = common::model_value();
    v.as_object_mut().expect("object").remove("bias");
    match load(&v) {
        Err(e @ ModelError::Limit { .. }) => {
            assert_eq!(e.limit(), Some(ModelLimit::SchemaFields));
            assert!(e.to_string().contains("bias"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_field_is_refused() {
    let mut v = common::model_value();
    v["surprise"] = json!(1);
    match load(&v) {
        Err(e @ ModelError::Limit { .. }) => {
            assert_eq!(e.limit(), Some(ModelLimit::SchemaFields));
            assert!(e.to_string().contains("surprise"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn future_schema_version_is_refused() {
    let mut v = common::model_value();
    v["schema_version"] = json!(2);
    assert_eq!(
        load(&v).err(),
        Some(ModelError::UnsupportedSchema {
            found: 2,
            expected: 1
        })
    );
}

#[test]
fn weights_must_match_features() {
    let mut v = common::model_value();
    v["weights"].as_array_mut().expect("weights").pop();
    assert_eq!(invalid_field(&v), "weights");
}

#[test]
fn lut_length_must_be_two_to_the_index_bits() {
    let mut v = common::model_value();
    v["lut"].as_array_mut().expect("lut").pop();
    assert_eq!(invalid_field(&v), "lut");
}

#[test]
fn lut_must_be_monotone() {
    let mut v = common::model_value();
    let lut = v["lut"].as_array_mut().expect("lut");
    let last = lut.len() - 1;
    lut[last] = json!(0);
    assert_eq!(invalid_field(&v), format!("lut[{last}]"));
}

#[test]
fn lut_values_must_be_probabilities() {
    let mut v = common::model_value();
    let lut = v["lut"].as_array_mut().expect("lut");
    let last = lut.len() - 1;
    lut[last] = json!(5000);
    assert_eq!(invalid_field(&v), format!("lut[{last}]"));
}

#[test]
fn declared_logit_bounds_are_recomputed() {
    let mut v = common::model_value();
    v["linear"]["logit_max"] = json!(v["linear"]["logit_max"].as_i64().expect("i64") - 1);
    assert_eq!(invalid_field(&v), "linear.logit_min");
}

#[test]
fn accumulator_overflow_is_refused() {
    let mut v = common::model_value();
    // A larger weight widens the logit range beyond what the accumulator can hold.
    v["weights"][0] = json!(v["weights"][0].as_i64().expect("i64") * 8);
    let model: Value = v.clone();
    let err = load(&model).expect_err("refused");
    // The declared bounds no longer match first; fix them to reach the overflow check.
    if let ModelError::Limit { reason, .. } = &err {
        let computed: Vec<i64> = reason
            .split(|c: char| !(c.is_ascii_digit() || c == '-'))
            .filter_map(|s| s.parse().ok())
            .collect();
        let n = computed.len();
        v["linear"]["logit_min"] = json!(computed[n - 2]);
        v["linear"]["logit_max"] = json!(computed[n - 1]);
        v["index"]["offset"] = json!(-computed[n - 2]);
    }
    assert_eq!(invalid_field(&v), "linear.accumulator_bits");
}

#[test]
fn negative_accumulator_is_refused() {
    let mut v = common::model_value();
    v["index"]["offset"] = json!(v["index"]["offset"].as_i64().expect("i64") - 1);
    assert_eq!(invalid_field(&v), "index.offset");
}

#[test]
fn feature_ranges_are_checked() {
    let mut v = common::model_value();
    v["features"][0]["clamp_min"] = json!(1000.0);
    assert_eq!(invalid_field(&v), "features[0].clamp_min");
}

#[test]
fn binary_feature_must_have_one_bit() {
    let mut v = common::model_value();
    let i = v["features"]
        .as_array()
        .expect("features")
        .iter()
        .position(|f| f["kind"] == "binary")
        .expect("a binary feature");
    v["features"][i]["bits"] = json!(2);
    assert_eq!(invalid_field(&v), format!("features[{i}].bits"));
}

#[test]
fn duplicate_feature_names_are_refused() {
    let mut v = common::model_value();
    v["features"][1]["name"] = v["features"][0]["name"].clone();
    assert_eq!(invalid_field(&v), "features[1].name");
}

#[test]
fn bad_model_id_is_refused() {
    let mut v = common::model_value();
    v["model_id"] = json!("../etc/passwd");
    assert_eq!(invalid_field(&v), "model_id");
}

#[test]
fn wrong_types_never_panic() {
    let base = common::model_value();
    for key in base.as_object().expect("object").keys() {
        for replacement in [json!(null), json!("x"), json!(-1), json!([]), json!({})] {
            let mut v = base.clone();
            v[key.as_str()] = replacement;
            let _ = load(&v); // must return, not panic
        }
    }
}
