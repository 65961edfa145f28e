//! Shared helpers for the core's integration tests.
#![allow(dead_code)]

use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_core::golden::GoldenFile;
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

/// Golden vectors exported by the training pipeline (typed).
pub fn golden() -> GoldenFile {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/cvd-lr/v1/golden.json"
    ))
    .expect("golden.json present");
    GoldenFile::parse(&text).expect("golden.json has the golden-file shape")
}

/// The raw inputs of the sampled golden vectors, in model order.
pub fn golden_raw() -> Vec<Vec<f64>> {
    golden().vectors.into_iter().map(|v| v.raw).collect()
}
