//! Stored screenings stay bound to the model they were made with: after a (test-signed) v4
//! with another feature order and names is installed, a v3 row is still labelled, exported
//! and counted through v3.
mod support;

use pulsecure_app::history::HistoryQuery;
use pulsecure_app::models::{install, trust_key};
use pulsecure_app::{AppError, EvaluatorChoice, Records, Workstation};
use pulsecure_core::domain::analytics::Window;
use pulsecure_core::domain::analytics::{Dataset, Query};
use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_core::usecase::analytics::dataset_of;
use pulsecure_core::usecase::model_service::InstallOutcome;
use pulsecure_core::PatientRef;
use pulsecure_signing::publish::{generate_keypair, sign_model};
use pulsecure_signing::PublisherKey;

/// The embedded release (v3) with its features (and weights) in reverse order, one feature
/// renamed, version 4.
fn newer_model() -> String {
    let mut doc: serde_json::Value = serde_json::from_str(DEFAULT_MODEL_JSON).expect("json");
    doc["version"] = serde_json::json!(4);
    let mut features = doc["features"].as_array().expect("features").clone();
    features.reverse();
    for f in &mut features {
        if f["name"] == "told_diabetes" {
            f["name"] = serde_json::json!("diabetes_diagnosed");
        }
    }
    doc["features"] = serde_json::Value::Array(features);
    let mut weights = doc["weights"].as_array().expect("weights").clone();
    weights.reverse();
    doc["weights"] = serde_json::Value::Array(weights);
    serde_json::to_string_pretty(&doc).expect("serialize")
}

#[test]
fn a_v3_row_is_read_through_v3_after_v4_is_installed() {
    let (_tmp, dir) = support::initialized();
    {
        let ws = Workstation::open(&dir, &support::password(), EvaluatorChoice::InProcess)
            .expect("open");
        assert_eq!(ws.model().version(), 3);
        ws.screen_values(
            Some(PatientRef::parse("P-V3").expect("valid")),
            &support::patient_values(),
            &mut |_| {},
        )
        .expect("screened under v3");
    }

    let (public, secret) = generate_keypair("publisher pass".into()).expect("keypair");
    let model = newer_model();
    let signature = sign_model(model.as_bytes(), &secret, "publisher pass".into()).expect("sign");
    let records = Records::open(&dir, &support::password()).expect("open records");
    let key = PublisherKey::parse(&public, "test publisher").expect("key");
    // Trusted for another model id only, the key cannot publish cvd-lr.
    assert!(trust_key(records.database(), &key, "another-model", "test publisher").expect("trust"));
    match install(&records, model.as_bytes(), &signature, "v4") {
        Err(AppError::KeyNotTrustedForModel { model_id, .. }) => assert_eq!(model_id, "cvd-lr"),
        other => panic!(
            "expected a scope refusal, got {:?}",
            other.map(|r| r.outcome)
        ),
    }
    drop(records);
    let records = Records::open(&dir, &support::password()).expect("open records");
    assert!(trust_key(records.database(), &key, "cvd-lr", "test publisher").expect("trust"));
    let report = install(&records, model.as_bytes(), &signature, "v4").expect("install v4");
    assert_eq!(report.outcome, InstallOutcome::Installed);
    drop(records);

    let records = Records::open(&dir, &support::password()).expect("reopen");
    assert_eq!(records.model().version(), 4, "v4 is active");
    assert_eq!(records.model().features()[0].name, "told_high_bp");
    let rows = records.history(&HistoryQuery::default()).expect("history");
    assert_eq!(rows.len(), 1);
    let named: Vec<(&str, f64)> = rows[0].named_features().collect();
    assert_eq!(named[0], ("age", 63.0), "v3's first feature and its value");
    assert!(
        named.contains(&("told_diabetes", 0.0)),
        "v3's name: {named:?}"
    );
    assert!(!named.iter().any(|(n, _)| *n == "diabetes_diagnosed"));
    assert_eq!(rows[0].stored.record.assessment.model_version, 3);
    let shown: Vec<(&str, String)> = rows[0].displayed_features().collect();
    assert!(shown.iter().any(|(n, _)| *n == "systolic_bp"), "{shown:?}");

    // Statistics read the age through v3's order: the one row (age 63) lands in the 60-79
    // band of its class (through v4's order it would read the `told_high_bp` answer, 1).
    let stored: Vec<_> = rows.iter().map(|r| r.stored.clone()).collect();
    let data = dataset_of(&stored, records.catalog()).expect("dataset");
    let class = rows[0].stored.record.assessment.class;
    assert_eq!(data.cells, vec![Dataset::cell(class, 63.0)]);
    let after_the_row = Window::as_of(
        rows[0].stored.record.created_at + 1,
        rows[0].stored.record.created_at + 1,
    )
    .expect("window");
    let release = records
        .release(&Query::Histogram, 0.5, after_the_row)
        .expect("release");
    assert_eq!(release.values.len(), 8);
}
