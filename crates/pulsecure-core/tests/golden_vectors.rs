//! Contract test: the reference engine reproduces every golden vector the Python pipeline
//! exported (raw input → codes → logit → index → probability → class), bit for bit — the
//! sampled ones and the edge vectors (clamp bounds, rounding ties, extreme logits, every
//! table boundary).

mod common;

use pulsecure_core::golden::GoldenVector;
use pulsecure_core::{PatientFeatures, ReferenceEngine};

fn check(engine: &ReferenceEngine<'_>, model: &pulsecure_core::Model, v: &GoldenVector, at: &str) {
    let patient =
        PatientFeatures::from_ordered(model.features(), &v.raw).expect("golden input valid");
    let trace = engine.evaluate(&patient);
    assert_eq!(trace.codes, v.x, "codes differ in {at}");
    assert_eq!(trace.logit, v.logit, "logit differs in {at}");
    assert_eq!(trace.index, v.index, "index differs in {at}");
    assert_eq!(trace.probability_code, v.p, "p differs in {at}");
    assert_eq!(trace.high_risk, v.high, "class differs in {at}");
}

#[test]
fn reference_engine_matches_every_python_golden_vector() {
    check_release(&common::default_model(), &common::golden());
}

#[test]
fn reference_engine_matches_every_v1_golden_vector() {
    check_release(&common::model_v1(), &common::golden_v1());
}

fn check_release(model: &pulsecure_core::Model, golden: &pulsecure_core::golden::GoldenFile) {
    let engine = ReferenceEngine::new(model);
    assert!(
        golden.vectors.len() >= 200,
        "training exports at least 200 golden vectors"
    );
    let model_names: Vec<&str> = model.features().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(golden.features, model_names);
    for (row, v) in golden.vectors.iter().enumerate() {
        check(&engine, model, v, &format!("golden row {row}"));
    }
    for (row, v) in golden.edges.iter().enumerate() {
        let kind = v.kind.as_deref().unwrap_or("?");
        check(&engine, model, v, &format!("edge {row} ({kind})"));
    }
}

#[test]
fn edge_vectors_cover_every_edge_of_the_pipeline() {
    let model = common::default_model();
    let golden = common::golden();
    let linear = model.linear_spec();
    let extreme = |kind| golden.edges_of(kind).map(|v| v.logit).collect::<Vec<_>>();
    assert_eq!(extreme("logit_min"), vec![linear.logit_min]);
    assert_eq!(extreme("logit_max"), vec![linear.logit_max]);
    assert!(golden.edges_of("rounding_tie").count() > 0);
    // Every feature at each of its bounds.
    for (i, f) in model.features().iter().enumerate() {
        let values: Vec<f64> = golden.edges_of("clamp").map(|v| v.raw[i]).collect();
        for bound in [f.clamp_min, f.clamp_max] {
            assert!(values.contains(&bound), "{} at {bound}", f.name);
        }
    }
    // Both sides of every level change of the table that a logit can reach.
    let lut = model.lut();
    let indices: Vec<u32> = golden.edges_of("table_boundary").map(|v| v.index).collect();
    let reachable = (linear.logit_max - linear.logit_min) >> model.index_spec().shift;
    for i in 1..=reachable as usize {
        if lut[i] != lut[i - 1] {
            assert!(
                indices.contains(&(i as u32)) && indices.contains(&(i as u32 - 1)),
                "table boundary at index {i}"
            );
        }
    }
}

#[test]
fn golden_vectors_include_both_classes() {
    let golden = common::golden();
    let highs = golden.vectors.iter().filter(|v| v.high).count();
    assert!(highs > 0 && highs < golden.vectors.len());
}
