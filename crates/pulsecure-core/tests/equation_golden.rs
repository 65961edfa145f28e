//! The Rust reference engine of schema-2 models agrees bit for bit with the Python pipeline
//! (`training/equation_model.py`) on every golden vector — group, codes, accumulator, index,
//! probability and category — the released tables stay within 0.2 percentage point of the
//! exact equation on every published vector, and a model over an encryption limit (plaintext
//! range, slot weight mass — per encrypted output for a model with weight digits) or with a
//! wrong digit width or output bound is refused naming the field.

use std::collections::BTreeMap;
use std::path::PathBuf;

use pulsecure_core::domain::equation::InputValue;
use pulsecure_core::domain::equation_model::{EquationModel, MAX_SLOT_WEIGHT_MASS, PLAINTEXT_BITS};
use pulsecure_core::ModelError;
use serde_json::Value;

/// Every released schema-2 model and its release folder.
const MODELS: [&str; 3] = ["prevent-cvd-10y", "prevent-ascvd-10y", "pce-ascvd-10y"];
const PCE: &str = "pce-ascvd-10y";
const PREVENT_ID: &str = "prevent-cvd-10y";

fn release(model: &str) -> &'static str {
    if model == PCE {
        "v1"
    } else {
        "v2"
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(model: &str, file: &str) -> String {
    std::fs::read_to_string(
        repo()
            .join("models")
            .join(model)
            .join(release(model))
            .join(file),
    )
    .expect("release file")
}

fn load(model: &str) -> EquationModel {
    EquationModel::from_json(&read(model, "model.json")).expect("the release validates")
}

fn inputs(v: &Value) -> BTreeMap<String, InputValue> {
    serde_json::from_value(v.clone()).expect("golden input")
}

#[test]
fn every_golden_vector_is_reproduced_bit_for_bit() {
    for id in MODELS {
        let model = load(id);
        let golden: Value = serde_json::from_str(&read(id, "golden.json")).expect("json");
        let vectors = golden["vectors"].as_array().expect("vectors");
        assert!(vectors.len() > 300, "{id}: too few vectors");
        for v in vectors {
            let name = v["id"].as_str().unwrap_or("?");
            let checked = model
                .equation()
                .check(&inputs(&v["input"]))
                .unwrap_or_else(|e| panic!("{id} {name}: {e}"));
            let trace = model.run(&checked);
            let ints = |k: &str| -> Vec<i64> {
                v[k].as_array()
                    .expect(k)
                    .iter()
                    .map(|x| x.as_i64().expect("int"))
                    .collect()
            };
            assert_eq!(
                trace.group as i64,
                v["group"].as_i64().expect("group"),
                "{id} {name} group"
            );
            let codes: Vec<i64> = trace.codes.iter().map(|&c| i64::from(c)).collect();
            assert_eq!(codes, ints("codes"), "{id} {name} codes");
            assert!(v.get("digits").is_none(), "{id} {name}: no digits any more");
            assert_eq!(
                trace.acc,
                v["acc"].as_i64().expect("acc"),
                "{id} {name} acc"
            );
            // A model with weight digits: every encrypted output, as Python computed it.
            match v.get("outputs") {
                Some(_) => assert_eq!(trace.outputs, ints("outputs"), "{id} {name} outputs"),
                None => {
                    assert_eq!(model.output_count(), 1, "{id}: golden outputs missing");
                    assert_eq!(trace.outputs, vec![trace.acc]);
                }
            }
            assert_eq!(
                i64::from(trace.index),
                v["index"].as_i64().expect("idx"),
                "{id} {name}"
            );
            assert_eq!(
                i64::from(trace.probability),
                v["probability"].as_i64().expect("p")
            );
            let category = &model.output().categories[trace.category].name;
            assert_eq!(
                category,
                v["category"].as_str().expect("category"),
                "{id} {name}"
            );
        }
    }
}

#[test]
fn published_vectors_are_within_a_fifth_of_a_point() {
    for id in MODELS {
        let model = load(id);
        let golden: Value = serde_json::from_str(&read(id, "golden.json")).expect("json");
        let mut seen = 0;
        for v in golden["vectors"].as_array().expect("vectors") {
            let Some(published) = v["published"].as_f64() else {
                continue;
            };
            let checked = model.equation().check(&inputs(&v["input"])).expect("valid");
            let p = f64::from(model.run(&checked).probability) / 10_000.0;
            let exact = model.equation().probability(&checked);
            // Published values are rounded to 3 decimals (±0.0005).
            assert!(
                (p - published).abs() <= 0.002 + 0.0005,
                "{id}: {p} vs published {published}"
            );
            assert!((p - exact).abs() <= 0.002, "{id}: {p} vs exact {exact}");
            seen += 1;
        }
        assert!(seen >= 4, "{id}: only {seen} published vectors");
    }
}

fn tampered(id: &str, edit: impl FnOnce(&mut Value)) -> Result<EquationModel, ModelError> {
    let mut doc: Value = serde_json::from_str(&read(id, "model.json")).expect("json");
    edit(&mut doc);
    EquationModel::from_json(&doc.to_string())
}

#[test]
fn a_model_whose_integers_disagree_with_its_equation_is_refused() {
    let id = MODELS[0];
    let weight = tampered(id, |d| {
        let w = d["linear"]["weights"][1][0].as_i64().expect("int");
        d["linear"]["weights"][1][0] = Value::from(w + 50);
    });
    assert!(
        matches!(weight, Err(ModelError::Invalid { ref field, .. }) if field == "linear.weights[1][0]"),
        "{weight:?}"
    );
    let coefficient = tampered(id, |d| {
        d["equation"]["groups"][0]["coefficients"][0] = Value::from(0.9);
    });
    assert!(
        coefficient.is_err(),
        "a changed coefficient must not match the weights"
    );
    let table = tampered(id, |d| {
        d["output"]["table"][3000] = Value::from(0);
    });
    assert!(table.is_err(), "a table entry off the link");
    let range = tampered(id, |d| {
        d["encoding"]["terms"][0]["max"] = Value::from(2.0);
    });
    assert!(
        matches!(range, Err(ModelError::Invalid { ref field, .. }) if field.starts_with("encoding.terms[0]")),
        "{range:?}"
    );
    let bounds = tampered(id, |d| {
        let a = d["linear"]["acc_max"].as_i64().expect("int");
        d["linear"]["acc_max"] = Value::from(a - 1);
    });
    assert!(bounds.is_err(), "accumulator bounds are re-derived");
    let schema = tampered(id, |d| d["schema_version"] = Value::from(1));
    assert!(matches!(
        schema,
        Err(ModelError::UnsupportedSchema { found: 1, .. })
    ));
}

fn refused_field(result: Result<EquationModel, ModelError>) -> (String, String) {
    match result {
        Err(ModelError::Invalid { field, reason }) => (field, reason),
        other => panic!("expected a refusal naming a field, got {other:?}"),
    }
}

#[test]
fn a_model_over_the_slot_weight_mass_is_refused_naming_the_field() {
    // A consistent model whose `dm` coefficient (a yes/no term, coded 0 or 2^10: its weight
    // is coefficient · 2^12) is 100: the weight matches, but one slot alone weighs 409 600.
    let id = MODELS[0];
    let dm = load(id)
        .encoded_terms()
        .iter()
        .position(|t| t.term == "dm")
        .expect("dm is encoded");
    let coefficient = load(id)
        .equation()
        .terms
        .iter()
        .position(|t| t.name == "dm")
        .expect("dm term");
    let heavy = tampered(id, |d| {
        d["equation"]["groups"][0]["coefficients"][coefficient] = Value::from(100.0);
        d["linear"]["weights"][0][dm] = Value::from(100 * 4096);
    });
    let (field, reason) = refused_field(heavy);
    assert_eq!(field, "linear.weights", "{reason}");
    assert!(
        reason.contains(&MAX_SLOT_WEIGHT_MASS.to_string()),
        "{reason}"
    );
    assert!(
        load(id).slot_weight_mass() <= MAX_SLOT_WEIGHT_MASS,
        "the release is under"
    );
}

#[test]
fn a_model_over_the_plaintext_range_is_refused_naming_the_field() {
    // The `age` code widened to 16 bits at the same step: every weight still matches and the
    // slot weight mass is unchanged, but the age slot now reaches 65 535 · W: the accumulator
    // range exceeds 2^27.
    let id = MODELS[0];
    let model = load(id);
    let age = &model.encoded_terms()[0];
    assert_eq!(age.term, "age");
    let wide_max = age.min + age.step * 65_535.0;
    let wide = tampered(id, |d| {
        d["encoding"]["terms"][0]["bits"] = Value::from(16);
        d["encoding"]["terms"][0]["max"] = Value::from(wide_max);
    });
    let (field, reason) = refused_field(wide);
    assert_eq!(field, "linear.acc_max", "{reason}");
    assert!(reason.contains(&format!("2^{PLAINTEXT_BITS}")), "{reason}");
    let range = model.linear().acc_max - model.linear().acc_min;
    assert!(range < 1 << PLAINTEXT_BITS && range > 1 << 26, "{range}");
}

#[test]
fn pce_golden_covers_every_coefficient_set_and_its_outputs_recombine() {
    let model = load(PCE);
    assert_eq!(model.output_count(), 3);
    let golden: Value = serde_json::from_str(&read(PCE, "golden.json")).expect("json");
    let mut groups = std::collections::BTreeSet::new();
    for v in golden["vectors"].as_array().expect("vectors") {
        let checked = model.equation().check(&inputs(&v["input"])).expect("valid");
        let trace = model.run(&checked);
        assert_eq!(model.recombine(&trace.outputs), trace.acc);
        groups.insert(trace.group);
    }
    assert_eq!(groups.len(), 4, "white/aa x female/male");
}

#[test]
fn race_other_uses_the_white_equations() {
    let model = load(PCE);
    let patient = |race: &str| {
        let mut v: BTreeMap<String, InputValue> = BTreeMap::new();
        for (k, x) in [
            ("age", 55.0),
            ("sbp", 140.0),
            ("bp_tx", 0.0),
            ("total_c", 213.0),
            ("hdl_c", 50.0),
            ("dm", 0.0),
            ("smoking", 0.0),
        ] {
            v.insert(k.into(), InputValue::Number(x));
        }
        v.insert("sex".into(), InputValue::Level("female".into()));
        v.insert("race".into(), InputValue::Level(race.into()));
        model.run(&model.equation().check(&v).expect("valid"))
    };
    let names = |t: &pulsecure_core::domain::equation_model::EquationTrace| {
        model.equation().groups[t.group].name.clone()
    };
    assert_eq!(names(&patient("other")), "white_female");
    assert_eq!(names(&patient("white")), "white_female");
    assert_eq!(names(&patient("black")), "aa_female");
    assert_eq!(patient("other"), patient("white"));
}

#[test]
fn a_wrong_digit_width_or_output_bound_is_refused_naming_the_field() {
    // k = 9 instead of 8: the digits are another split (they still recombine), so output 0's
    // bounds in the file are not its bounds — or, wider still, an output is over a limit.
    let (field, reason) = refused_field(tampered(PCE, |d| {
        d["linear"]["weight_digit_bits"] = Value::from(9);
    }));
    assert!(
        field.starts_with("linear.outputs[") || field == "linear.weight_digit_bits",
        "{field}: {reason}"
    );
    // k = 16: lower digits up to 2^16 - 1, output 0's weight mass is over 2^18.
    let (field, reason) = refused_field(tampered(PCE, |d| {
        d["linear"]["weight_digit_bits"] = Value::from(16);
    }));
    assert_eq!(field, "linear.weight_digit_bits", "{reason}");
    assert!(
        reason.contains("output 0's weight mass")
            && reason.contains(&MAX_SLOT_WEIGHT_MASS.to_string()),
        "{reason}"
    );
    // One output bound off by one.
    let (field, reason) = refused_field(tampered(PCE, |d| {
        let a = d["linear"]["outputs"][1]["acc_max"].as_i64().expect("int");
        d["linear"]["outputs"][1]["acc_max"] = Value::from(a + 1);
    }));
    assert_eq!(field, "linear.outputs[1].acc_max", "{reason}");
    let (field, _) = refused_field(tampered(PCE, |d| {
        let a = d["linear"]["outputs"][2]["acc_min"].as_i64().expect("int");
        d["linear"]["outputs"][2]["acc_min"] = Value::from(a - 1);
    }));
    assert_eq!(field, "linear.outputs[2].acc_min");
    // An output dropped: three digits recombine W, two do not fit.
    let (field, reason) = refused_field(tampered(PCE, |d| {
        d["linear"]["outputs"].as_array_mut().expect("list").pop();
    }));
    assert!(
        field.starts_with("linear.outputs[") || field == "linear.weight_digit_bits",
        "{field}: {reason}"
    );
    // The digits removed: the single accumulator is over both limits.
    let (field, reason) = refused_field(tampered(PCE, |d| {
        let linear = d["linear"].as_object_mut().expect("object");
        linear.remove("outputs");
        linear.remove("weight_digit_bits");
    }));
    assert_eq!(field, "linear.weights", "{reason}");
    // Only one of the two fields.
    let (field, _) = refused_field(tampered(PCE, |d| {
        d["linear"]
            .as_object_mut()
            .expect("object")
            .remove("weight_digit_bits");
    }));
    assert_eq!(field, "linear.weight_digit_bits");
    let (field, _) = refused_field(tampered(PCE, |d| {
        d["linear"]
            .as_object_mut()
            .expect("object")
            .remove("outputs");
    }));
    assert_eq!(field, "linear.outputs");
    // An unknown field next to them is still refused.
    let unknown = tampered(PCE, |d| {
        d["linear"]["outputs"][0]["offset"] = Value::from(0);
    });
    assert!(
        matches!(unknown, Err(ModelError::Malformed(_))),
        "{unknown:?}"
    );
    let unknown = tampered(PREVENT_ID, |d| {
        d["linear"]["digits"] = Value::from(1);
    });
    assert!(
        matches!(unknown, Err(ModelError::Malformed(_))),
        "{unknown:?}"
    );
}

#[test]
fn an_output_over_the_plaintext_range_is_refused_naming_it() {
    // Output 2 (the top digit) alone widened: the `ln_age` code widened to 20 bits at the same
    // step keeps every weight (and so every digit and mass) but lets each output reach further;
    // output 1 is the first past 2^27.
    let model = load(PCE);
    let age = &model.encoded_terms()[0];
    assert_eq!(age.term, "ln_age");
    let wide_max = age.min + age.step * f64::from((1u32 << 20) - 1);
    let (field, reason) = refused_field(tampered(PCE, |d| {
        d["encoding"]["terms"][0]["bits"] = Value::from(20);
        d["encoding"]["terms"][0]["max"] = Value::from(wide_max);
    }));
    assert!(
        field.starts_with("linear.outputs[") && field.ends_with("].acc_max"),
        "{field}: {reason}"
    );
    assert!(reason.contains(&format!("2^{PLAINTEXT_BITS}")), "{reason}");
}
