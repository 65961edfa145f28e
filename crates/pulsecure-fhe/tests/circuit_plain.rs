//! The encrypted circuit's schedule, run on the plaintext block model, equals the reference
//! engine on every tested input — including every golden vector and random digits beyond the
//! valid code range — and respects tfhe's degree/noise budget (it would error otherwise).

use proptest::prelude::*;
use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_core::{Model, QuantizedInput, ReferenceEngine};
use pulsecure_fhe::backend::{Backend, PlainBackend};
use pulsecure_fhe::circuit::{probability_from_nibbles, Circuit, CircuitPlan};

fn model() -> Model {
    Model::from_json(DEFAULT_MODEL_JSON).expect("valid")
}

fn run(circuit: &Circuit<PlainBackend>, input: &QuantizedInput) -> (u32, bool) {
    let backend = PlainBackend;
    let blocks: Vec<_> = input
        .digits()
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

#[test]
fn pbs_count_is_data_independent_and_small() {
    let model = model();
    let circuit = Circuit::new(
        &PlainBackend,
        CircuitPlan::compile(&model).expect("compiles"),
    );
    let zeros = QuantizedInput::from_codes(&model, vec![0; model.features().len()]).expect("codes");
    let maxes = QuantizedInput::from_codes(
        &model,
        model.features().iter().map(|f| f.max_code()).collect(),
    )
    .expect("codes");
    let count = |input: &QuantizedInput| {
        let blocks: Vec<_> = input
            .digits()
            .iter()
            .map(|&d| pulsecure_fhe::backend::PlainBlock {
                value: u64::from(d),
                degree: 3,
                noise: 1,
            })
            .collect();
        circuit.evaluate(&PlainBackend, &blocks).expect("ok").1
    };
    let a = count(&zeros);
    assert_eq!(a, count(&maxes));
    assert!(a.total() <= 120, "{a:?}");
    println!("PBS per evaluation: {a:?}, total {}", a.total());
}

#[test]
fn every_code_of_each_feature_matches_reference() {
    let model = model();
    let circuit = Circuit::new(
        &PlainBackend,
        CircuitPlan::compile(&model).expect("compiles"),
    );
    let reference = ReferenceEngine::new(&model);
    // Sweep each feature over its whole code range with the others at low, middle and high.
    for base_fraction in [0.0, 0.5, 1.0] {
        for f in 0..model.features().len() {
            for code in 0..=model.features()[f].max_code() {
                let codes: Vec<u32> = model
                    .features()
                    .iter()
                    .enumerate()
                    .map(|(i, spec)| {
                        if i == f {
                            code
                        } else {
                            (f64::from(spec.max_code()) * base_fraction) as u32
                        }
                    })
                    .collect();
                let input = QuantizedInput::from_codes(&model, codes).expect("codes");
                let t = reference.evaluate_input(&input);
                assert_eq!(run(&circuit, &input), (t.probability_code, t.high_risk));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20000))]

    #[test]
    fn random_inputs_match_reference(seed in proptest::collection::vec(0u32..256, 12)) {
        let model = model();
        let circuit = Circuit::new(&PlainBackend, CircuitPlan::compile(&model).expect("compiles"));
        let codes: Vec<u32> = model.features().iter().zip(&seed).map(|(f, s)| s % (f.max_code() + 1)).collect();
        let input = QuantizedInput::from_codes(&model, codes).expect("codes");
        let t = ReferenceEngine::new(&model).evaluate_input(&input);
        prop_assert_eq!(run(&circuit, &input), (t.probability_code, t.high_risk));
    }
}

#[test]
fn every_index_bucket_boundary_is_exact() {
    // Drive the lookup through every index value by searching inputs whose logit lands there.
    let model = model();
    let circuit = Circuit::new(
        &PlainBackend,
        CircuitPlan::compile(&model).expect("compiles"),
    );
    let reference = ReferenceEngine::new(&model);
    let mut seen = std::collections::BTreeSet::new();
    let n = model.features().len();
    let mut state = 0x9e3779b97f4a7c15u64;
    for _ in 0..200_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let codes: Vec<u32> = (0..n)
            .map(|i| ((state >> (5 * i)) as u32) % (model.features()[i].max_code() + 1))
            .collect();
        let input = QuantizedInput::from_codes(&model, codes).expect("codes");
        let t = reference.evaluate_input(&input);
        if seen.insert(t.index) {
            assert_eq!(
                run(&circuit, &input),
                (t.probability_code, t.high_risk),
                "index {}",
                t.index
            );
        }
    }
    assert!(seen.len() > 100, "covered {} index values", seen.len());
}
