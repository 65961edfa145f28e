//! The model contract's shared cases (`models/contract-cases.json`) against the encrypted
//! circuit itself: every case the loader lets through is refused by `CircuitPlan::compile`
//! with a message naming its limit, and every accepted model compiles and its plaintext
//! circuit equals the reference engine at every table index the model can reach (among them
//! a table with 15 level changes in one 16-wide bucket, the retired `boundaries_per_bucket`).

#[path = "../../pulsecure-core/tests/contract_cases/mod.rs"]
mod contract_cases;
mod plain_run;

use std::collections::BTreeMap;

use contract_cases::contract;
use plain_run::{code_counts, codes_of, run};
use pulsecure_core::{Model, ModelLimit, QuantizedInput, ReferenceEngine};
use pulsecure_fhe::backend::PlainBackend;
use pulsecure_fhe::circuit::{Circuit, CircuitPlan};

#[test]
fn every_case_the_loader_passes_is_refused_by_the_circuit_naming_its_limit() {
    let mut reached = Vec::new();
    for entry in &contract().cases {
        let Ok(model) = Model::from_json(&entry.model_json()) else {
            continue; // a loader limit: pulsecure-core's model_contract test
        };
        let limit = ModelLimit::from_name(&entry.limit).expect("a known limit");
        let err = CircuitPlan::compile(&model).expect_err(&entry.name);
        let prefix = format!(
            "model not supported by the encrypted engine: {}",
            limit.label()
        );
        assert!(
            err.to_string().starts_with(&prefix),
            "{}: {err}",
            entry.name
        );
        reached.push(limit);
    }
    // The circuit's own limits are reached by a model the loader accepts.
    for limit in [ModelLimit::IndexBits, ModelLimit::ProbabilityLevels] {
        assert!(
            reached.contains(&limit),
            "no loader-valid case for `{limit}`"
        );
    }
}

/// Codes of one input per table index `model` can reach (from a sweep of its input space,
/// at most 2^16 inputs; random ones beyond).
fn one_input_per_index(model: &Model) -> BTreeMap<u32, Vec<u32>> {
    let reference = ReferenceEngine::new(model);
    let sizes = code_counts(model);
    let total: u64 = sizes.iter().product();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut found = BTreeMap::new();
    for n in 0..total.min(1 << 16) {
        let n = if total <= 1 << 16 {
            n
        } else {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let codes = codes_of(&sizes, n);
        let input = QuantizedInput::from_codes(model, codes.clone()).expect("codes");
        found
            .entry(reference.evaluate_input(&input).index)
            .or_insert(codes);
    }
    found
}

#[test]
fn accepted_models_compile_and_the_circuit_equals_the_reference() {
    for entry in &contract().accepted {
        let model = Model::from_json(&entry.model_json()).expect(&entry.name);
        let plan = CircuitPlan::compile(&model).unwrap_or_else(|e| panic!("{}: {e}", entry.name));
        let circuit = Circuit::new(&PlainBackend, plan);
        let reference = ReferenceEngine::new(&model);
        let inputs = one_input_per_index(&model);
        if entry.name.contains("boundaries_per_bucket") {
            // Every index of the bucket holding the 15 level changes is evaluated.
            assert!((0..16).all(|i| inputs.contains_key(&i)), "{}", entry.name);
        }
        for codes in inputs.into_values() {
            let input = QuantizedInput::from_codes(&model, codes).expect("codes");
            let t = reference.evaluate_input(&input);
            assert_eq!(
                run(&circuit, &input),
                (t.probability_code, t.high_risk),
                "{}: index {}",
                entry.name,
                t.index
            );
        }
    }
}
