//! `ReleasedModel` reads every released model by its `schema_version`: both cvd-lr releases
//! as schema 1, both PREVENT releases and the PCE release as schema 2, and refuses any other version.

use pulsecure_core::domain::model::ModelError;
use pulsecure_core::ReleasedModel;

fn release(path: &str) -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/");
    std::fs::read_to_string(format!("{root}{path}/model.json")).expect("release file")
}

#[test]
fn each_release_loads_as_its_schema() {
    for (path, id, version, schema) in [
        ("cvd-lr/v1", "cvd-lr", 1, 1),
        ("cvd-lr/v2", "cvd-lr", 2, 1),
        ("prevent-cvd-10y/v2", "prevent-cvd-10y", 2, 2),
        ("prevent-ascvd-10y/v2", "prevent-ascvd-10y", 2, 2),
        ("pce-ascvd-10y/v1", "pce-ascvd-10y", 1, 2),
    ] {
        let model = ReleasedModel::from_json(&release(path)).expect("release loads");
        assert_eq!(
            (model.id(), model.version(), model.schema_version()),
            (id, version, schema),
            "{path}"
        );
        assert_eq!(model.as_logistic().is_some(), schema == 1, "{path}");
        assert_eq!(model.as_equation().is_some(), schema == 2, "{path}");
    }
}

#[test]
fn another_schema_version_is_refused() {
    let text =
        release("prevent-cvd-10y/v2").replacen("\"schema_version\": 2", "\"schema_version\": 3", 1);
    assert!(
        text.contains("\"schema_version\": 3"),
        "the test edits the file"
    );
    assert!(matches!(
        ReleasedModel::from_json(&text),
        Err(ModelError::UnsupportedSchema { found: 3, .. })
    ));
    assert!(matches!(
        ReleasedModel::from_json("{\"model_id\": \"x\"}"),
        Err(ModelError::Malformed(_))
    ));
}

#[test]
fn a_schema_2_document_is_validated_in_full() {
    // Same file, one weight off by far more than rounding: the equation checks still run.
    let mut doc: serde_json::Value =
        serde_json::from_str(&release("prevent-cvd-10y/v2")).expect("json");
    let w = &mut doc["linear"]["weights"][0][0];
    *w = serde_json::json!(w.as_i64().expect("integer") + 1000);
    assert!(matches!(
        ReleasedModel::from_json(&doc.to_string()),
        Err(ModelError::Invalid { .. })
    ));
}
