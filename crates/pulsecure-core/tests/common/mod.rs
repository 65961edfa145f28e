//! Shared helpers for the core's integration tests.
#![allow(dead_code)]

use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_core::Model;
use serde_json::Value;

/// The embedded default model.
pub fn default_model() -> Model {
    Model::from_json(DEFAULT_MODEL_JSON).expect("embedded model is valid")
}

/// The embedded model as an editable JSON value.
pub fn model_value() -> Value {
    serde_json::from_str(DEFAULT_MODEL_JSON).expect("embedded model is JSON")
}

/// Golden vectors exported by the training pipeline.
pub fn golden() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/cvd-lr/v1/golden.json"
    ))
    .expect("golden.json present");
    serde_json::from_str(&text).expect("golden.json is JSON")
}

/// The raw inputs of the golden vectors, in model order.
pub fn golden_raw() -> Vec<Vec<f64>> {
    golden()["vectors"]
        .as_array()
        .expect("vectors")
        .iter()
        .map(|v| {
            v["raw"]
                .as_array()
                .expect("raw")
                .iter()
                .map(|x| x.as_f64().expect("f64"))
                .collect()
        })
        .collect()
}
