//! What the benchmarks share: min/median of timed samples, and random valid inputs of a
//! schema-1 model (a leaf, so the benchmark modules do not import each other).

use std::time::Duration;

use pulsecure_core::{Model, QuantizedInput};

use crate::rng::SplitMix64;

/// Minimum and median of `samples`, in milliseconds.
pub(crate) fn stats(samples: &[Duration]) -> (f64, f64) {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let median = if ms.len() % 2 == 1 {
        ms[ms.len() / 2]
    } else {
        (ms[ms.len() / 2 - 1] + ms[ms.len() / 2]) / 2.0
    };
    (ms.first().copied().unwrap_or(0.0), median)
}

/// A random valid input: every feature's code drawn within its width.
pub(crate) fn random_input(model: &Model, rng: &mut SplitMix64) -> QuantizedInput {
    let codes = model
        .features()
        .iter()
        .map(|f| rng.up_to(f.max_code()))
        .collect();
    // Codes are drawn within each feature's width, so this cannot fail.
    QuantizedInput::from_codes(model, codes).unwrap_or_else(|| unreachable!("codes within width"))
}
