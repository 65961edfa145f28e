//! Shared by the plaintext-circuit tests: run a circuit on the plaintext block model from
//! fresh encryptions of an input's digits, and walk a model's input space.
#![allow(dead_code)]

use pulsecure_core::{Model, QuantizedInput};
use pulsecure_fhe::backend::{PlainBackend, PlainBlock};
use pulsecure_fhe::circuit::Circuit;

/// `input`'s digits laid out for `circuit`, as fresh encryptions (degree 3, nominal noise).
pub fn fresh_blocks(circuit: &Circuit<PlainBackend>, input: &QuantizedInput) -> Vec<PlainBlock> {
    circuit
        .plan()
        .layout()
        .pack(input.digits())
        .expect("digit count")
        .iter()
        .map(|&d| PlainBlock {
            value: u64::from(d),
            degree: 3,
            noise: 1,
        })
        .collect()
}

/// The probability code and the high-risk class the circuit computes for `input` (it errors,
/// failing the test, if the degree/noise budget is exceeded).
pub fn run(circuit: &Circuit<PlainBackend>, input: &QuantizedInput) -> (u32, bool) {
    let (segment, _) = circuit
        .evaluate(&PlainBackend, &fresh_blocks(circuit, input))
        .expect("budget respected");
    let result = circuit
        .plan()
        .segment_results()
        .result(segment.value)
        .expect("a segment of the model");
    (result.probability_code, result.high_risk)
}

/// How many codes each feature of `model` takes: the radices of its input space, whose size
/// is their product.
pub fn code_counts(model: &Model) -> Vec<u64> {
    model
        .features()
        .iter()
        .map(|f| u64::from(f.max_code()) + 1)
        .collect()
}

/// Input number `n` of the space [`code_counts`] describes: each feature's code, the first
/// feature varying fastest.
pub fn codes_of(counts: &[u64], mut n: u64) -> Vec<u32> {
    counts
        .iter()
        .map(|&s| {
            let c = n % s;
            n /= s;
            c as u32
        })
        .collect()
}
