//! Shared by the plaintext-circuit tests: run a circuit on the plaintext block model from
//! fresh encryptions of an input's digits.

use pulsecure_core::QuantizedInput;
use pulsecure_fhe::backend::{Backend, PlainBackend};
use pulsecure_fhe::circuit::{probability_from_nibbles, Circuit};

/// The probability code and the high-risk class the circuit computes for `input` (it errors,
/// failing the test, if the degree/noise budget is exceeded).
pub fn run(circuit: &Circuit<PlainBackend>, input: &QuantizedInput) -> (u32, bool) {
    let backend = PlainBackend;
    let blocks: Vec<_> = circuit
        .plan()
        .layout()
        .pack(input.digits())
        .expect("digit count")
        .iter()
        .map(|&d| {
            let mut b = backend.trivial(u64::from(d));
            // Fresh encryptions have degree 3 and nominal noise.
            b.degree = 3;
            b.noise = 1;
            b
        })
        .collect();
    let (out, _) = circuit
        .evaluate(&backend, &blocks)
        .expect("budget respected");
    let nibbles: Vec<u64> = out.nibbles.iter().map(|b| b.value).collect();
    (probability_from_nibbles(&nibbles), out.class.value == 1)
}
