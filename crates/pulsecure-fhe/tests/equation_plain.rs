//! The schema-2 circuit, run on the plaintext backend (tfhe's degree and noise bookkeeping,
//! no cryptography), returns exactly the reference engine's index for every golden patient of
//! each released equation model, and its bootstrapping count is what `pulsecure bench`
//! reports.

use std::collections::BTreeMap;
use std::path::PathBuf;

use pulsecure_core::domain::equation::InputValue;
use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_fhe::backend::{PlainBackend, PlainBlock};
use pulsecure_fhe::equation_circuit::{
    equation_pbs_count, group_block_degree, output_columns, EquationCircuit, EquationPlan,
};
use serde_json::Value;

const MODELS: [&str; 2] = ["prevent-cvd-10y", "prevent-ascvd-10y"];

fn read(model: &str, file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models")
        .join(model)
        .join("v1")
        .join(file);
    std::fs::read_to_string(path).expect("release file")
}

#[test]
fn the_plain_circuit_matches_the_reference_on_every_golden_patient() {
    for id in MODELS {
        let model = EquationModel::from_json(&read(id, "model.json")).expect("valid");
        let plan = EquationPlan::compile(&model).expect("compiles");
        let circuit = EquationCircuit::new(&PlainBackend, plan.clone());
        let columns = output_columns(&plan).expect("columns");
        let golden: Value = serde_json::from_str(&read(id, "golden.json")).expect("json");
        for v in golden["vectors"].as_array().expect("vectors") {
            let values: BTreeMap<String, InputValue> =
                serde_json::from_value(v["input"].clone()).expect("input");
            let checked = model.equation().check(&values).expect("valid");
            let (encoded, _) = model.encode(&checked);
            let fresh = |value: u64| PlainBlock {
                value,
                degree: 3,
                noise: 1,
            };
            let blocks: Vec<PlainBlock> = plan
                .pack(&encoded.digits)
                .expect("packs")
                .into_iter()
                .map(|x| fresh(u64::from(x)))
                .collect();
            let group = PlainBlock {
                value: encoded.group as u64,
                degree: group_block_degree(model.group_count()),
                noise: 1,
            };
            let (digits, _) = circuit
                .evaluate(&PlainBackend, &blocks, Some(&group))
                .expect("within budget");
            let values: Vec<u64> = digits.iter().map(|b| b.value).collect();
            assert!(
                values.iter().all(|&v| v < 16),
                "{id}: each output column fits one block"
            );
            let index = EquationPlan::index_from_columns(&columns, &values).expect("count");
            assert_eq!(
                index,
                u64::from(model.run(&checked).index),
                "{id} {}",
                v["id"]
            );
        }
        let count = equation_pbs_count(&model).expect("count");
        println!(
            "{id}: {} input blocks, {} PBS ({} contributions, {} accumulation), {} levels, {} index columns",
            plan.input_blocks(),
            count.total(),
            count.contributions,
            count.accumulation,
            count.depth,
            plan.index_columns()
        );
    }
}

/// A valid patient drawn with a seeded xorshift: numbers uniform in their published ranges,
/// choices and yes/no answers uniform.
fn random_patient(model: &EquationModel, state: &mut u64) -> BTreeMap<String, InputValue> {
    use pulsecure_core::domain::equation::InputKind;
    let mut next = || {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    };
    model
        .equation()
        .inputs
        .iter()
        .map(|input| {
            let r = next();
            let value = match &input.kind {
                InputKind::Number { min, max, .. } => {
                    InputValue::Number(min + (r >> 11) as f64 / (1u64 << 53) as f64 * (max - min))
                }
                InputKind::Binary => InputValue::Number((r & 1) as f64),
                InputKind::Choice { levels } => {
                    InputValue::Level(levels[(r % levels.len() as u64) as usize].clone())
                }
            };
            (input.name.clone(), value)
        })
        .collect()
}

#[test]
fn the_plain_circuit_matches_the_reference_on_random_patients() {
    for id in MODELS {
        let model = EquationModel::from_json(&read(id, "model.json")).expect("valid");
        let plan = EquationPlan::compile(&model).expect("compiles");
        let circuit = EquationCircuit::new(&PlainBackend, plan.clone());
        let columns = output_columns(&plan).expect("columns");
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..3000 {
            let checked = model
                .equation()
                .check(&random_patient(&model, &mut state))
                .expect("valid");
            let reference = model.run(&checked);
            let (encoded, _) = model.encode(&checked);
            let fresh = |value: u64, degree: u64| PlainBlock {
                value,
                degree,
                noise: 1,
            };
            let blocks: Vec<PlainBlock> = plan
                .pack(&encoded.digits)
                .expect("packs")
                .into_iter()
                .map(|x| fresh(u64::from(x), 3))
                .collect();
            let group = fresh(
                encoded.group as u64,
                group_block_degree(model.group_count()),
            );
            let (digits, _) = circuit
                .evaluate(&PlainBackend, &blocks, Some(&group))
                .expect("within budget");
            let values: Vec<u64> = digits.iter().map(|b| b.value).collect();
            assert_eq!(
                EquationPlan::index_from_columns(&columns, &values).expect("count"),
                u64::from(reference.index),
                "{id}"
            );
        }
    }
}
