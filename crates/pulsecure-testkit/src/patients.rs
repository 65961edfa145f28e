//! Patients for tests: values that vary every feature of the embedded model with an index
//! (so a batch of them exercises every input), as numbers or as a clinic CSV row.

use pulsecure_core::{Model, PatientFeatures};

/// The embedded model's inputs in its order: age, told_diabetes, systolic_bp,
/// current_smoker, male, told_high_bp — every one changing with `i`, all valid.
pub fn varied_values(i: usize) -> [f64; 6] {
    [
        30.0 + ((i * 7) % 50) as f64,
        ((i / 3) % 2) as f64,
        100.0 + (i % 5) as f64 * 15.0,
        ((i / 2) % 2) as f64,
        ((i / 4) % 2) as f64,
        (i % 2) as f64,
    ]
}

/// Patient `i` of the varied set, validated against `model` (the embedded one).
pub fn varied_patient(model: &Model, i: usize) -> PatientFeatures {
    PatientFeatures::from_ordered(model.features(), &varied_values(i)).expect("valid patient")
}

/// Patients `0..n` of the varied set.
pub fn varied_patients(model: &Model, n: usize) -> Vec<PatientFeatures> {
    (0..n).map(|i| varied_patient(model, i)).collect()
}
