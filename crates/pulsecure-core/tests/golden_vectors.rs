//! Contract test: the reference engine reproduces every golden vector the Python pipeline
//! exported (raw input → codes → logit → index → probability → class), bit for bit.

mod common;

use pulsecure_core::{PatientFeatures, ReferenceEngine};

#[test]
fn reference_engine_matches_every_python_golden_vector() {
    let model = common::default_model();
    let engine = ReferenceEngine::new(&model);
    let golden = common::golden();
    let vectors = golden["vectors"].as_array().expect("vectors array");
    assert!(
        vectors.len() >= 200,
        "training exports at least 200 golden vectors"
    );
    let names: Vec<&str> = golden["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|v| v.as_str().expect("name"))
        .collect();
    let model_names: Vec<&str> = model.features().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, model_names);
    for (row, v) in vectors.iter().enumerate() {
        let raw: Vec<f64> = v["raw"]
            .as_array()
            .expect("raw")
            .iter()
            .map(|x| x.as_f64().expect("f64"))
            .collect();
        let patient =
            PatientFeatures::from_ordered(model.features(), &raw).expect("golden input valid");
        let trace = engine.evaluate(&patient);
        let codes: Vec<u32> = v["x"]
            .as_array()
            .expect("x")
            .iter()
            .map(|x| x.as_u64().expect("u64") as u32)
            .collect();
        assert_eq!(trace.codes, codes, "codes differ in golden row {row}");
        assert_eq!(
            trace.logit,
            v["logit"].as_i64().expect("logit"),
            "logit differs in row {row}"
        );
        assert_eq!(
            u64::from(trace.index),
            v["index"].as_u64().expect("index"),
            "index differs in row {row}"
        );
        assert_eq!(
            u64::from(trace.probability_code),
            v["p"].as_u64().expect("p"),
            "p differs in row {row}"
        );
        assert_eq!(
            trace.high_risk,
            v["high"].as_bool().expect("high"),
            "class differs in row {row}"
        );
    }
}

#[test]
fn golden_vectors_include_both_classes() {
    let golden = common::golden();
    let highs = golden["vectors"]
        .as_array()
        .expect("vectors")
        .iter()
        .filter(|v| v["high"].as_bool() == Some(true))
        .count();
    assert!(highs > 0 && highs < golden["vectors"].as_array().map_or(0, Vec::len));
}
