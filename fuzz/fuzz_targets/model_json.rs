//! `model.json` parser: any bytes in, a model or a `ModelError` out, never a panic. A model
//! that loads must also survive the reference engine on its extreme inputs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pulsecure_core::{Model, PatientFeatures, ReferenceEngine};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(model) = Model::from_json(text) else {
        return;
    };
    let engine = ReferenceEngine::new(&model);
    for pick_max in [false, true] {
        let values: Vec<f64> = model
            .features()
            .iter()
            .map(|f| if pick_max { f.plausible_max } else { f.plausible_min })
            .collect();
        if let Ok(patient) = PatientFeatures::from_ordered(model.features(), &values) {
            let _ = engine.evaluate(&patient);
        }
    }
});
