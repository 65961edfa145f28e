//! The released models and their golden vectors, as the repository holds them.

use std::path::PathBuf;

use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_core::Model;
use serde_json::Value;

/// The published-equation releases: (model id, release folder).
pub const EQUATION_RELEASES: [(&str, &str); 3] = [
    ("prevent-cvd-10y", "v2"),
    ("prevent-ascvd-10y", "v2"),
    ("pce-ascvd-10y", "v1"),
];

/// The models `prevent` names, in output order.
pub const PREVENT: [&str; 2] = ["prevent-cvd-10y", "prevent-ascvd-10y"];

/// The embedded default model (cvd-lr).
pub fn default_model() -> Model {
    Model::from_json(DEFAULT_MODEL_JSON).expect("the embedded model is valid")
}

/// `file` of the released published equation `id` (`model.json`, `golden.json`).
pub fn equation_file(id: &str, file: &str) -> String {
    let release = EQUATION_RELEASES
        .iter()
        .find(|(model, _)| *model == id)
        .map(|(_, release)| *release)
        .unwrap_or_else(|| panic!("{id} is not a released equation"));
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models")
        .join(id)
        .join(release)
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The released published equation `id`.
pub fn equation_model(id: &str) -> EquationModel {
    EquationModel::from_json(&equation_file(id, "model.json")).expect("the release is valid")
}

/// Both PREVENT outputs (total CVD, ASCVD).
pub fn prevent_models() -> Vec<EquationModel> {
    PREVENT.iter().map(|id| equation_model(id)).collect()
}

/// The golden vectors of published equation `id` (inputs, accumulator, probability).
pub fn equation_vectors(id: &str) -> Vec<Value> {
    let golden: Value =
        serde_json::from_str(&equation_file(id, "golden.json")).expect("golden.json is JSON");
    golden["vectors"]
        .as_array()
        .expect("golden.json has vectors")
        .clone()
}
