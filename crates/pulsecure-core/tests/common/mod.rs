//! Shared helpers for the core's integration tests.
#![allow(dead_code)]

pub mod fakes;

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

/// The first release, still served to installations that have not upgraded (and the
/// schema without ordinal features).
pub fn model_v1() -> Model {
    Model::from_json(include_str!("../../../../models/cvd-lr/v1/model.json")).expect("v1 is valid")
}

/// The second release (the only one with an ordinal feature, self-rated health); rows it
/// screened stay readable after v3.
pub fn model_v2() -> Model {
    Model::from_json(include_str!("../../../../models/cvd-lr/v2/model.json")).expect("v2 is valid")
}

/// Golden vectors exported by the training pipeline for the embedded model (typed).
pub fn golden() -> GoldenFile {
    golden_of(pulsecure_core::embedded_model::DEFAULT_MODEL_PATH)
}

/// Golden vectors of v1.
pub fn golden_v1() -> GoldenFile {
    golden_of("models/cvd-lr/v1/model.json")
}

fn golden_of(model_path: &str) -> GoldenFile {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(model_path)
        .with_file_name("golden.json");
    let text = std::fs::read_to_string(&path).expect("golden.json present");
    GoldenFile::parse(&text).expect("golden.json has the golden-file shape")
}

/// The raw inputs of the sampled golden vectors, in model order.
pub fn golden_raw() -> Vec<Vec<f64>> {
    golden().vectors.into_iter().map(|v| v.raw).collect()
}
