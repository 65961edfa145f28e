//! The schema-1 model contract, from the case file both test suites read
//! (`models/contract-cases.json`; the Python side is `training/tests/test_model_contract.py`):
//! the loader and then the circuit limits refuse each case naming its limit, in the error and
//! in its message, and accept the released models; the case file lists exactly
//! [`ModelLimit::ALL`], in order.

mod contract_cases;

use contract_cases::{contract, Entry};
use pulsecure_core::{Model, ModelError, ModelLimit};

fn check(entry: &Entry) -> Result<Model, ModelError> {
    let model = Model::from_json(&entry.model_json())?;
    model.check_circuit_limits()?;
    Ok(model)
}

#[test]
fn the_case_file_lists_exactly_the_limits_in_check_order() {
    let names: Vec<&str> = ModelLimit::ALL.iter().map(|l| l.name()).collect();
    let file = contract();
    assert_eq!(file.limits, names);
    for limit in ModelLimit::ALL {
        assert!(
            file.cases.iter().any(|c| c.limit == limit.name()),
            "no case breaks `{limit}`"
        );
    }
}

#[test]
fn accepted_models_pass_the_loader_and_the_circuit_limits() {
    for entry in &contract().accepted {
        if let Err(e) = check(entry) {
            panic!("{}: refused: {e}", entry.name);
        }
    }
}

#[test]
fn every_case_is_refused_naming_its_limit() {
    let mut wrong = Vec::new();
    for entry in &contract().cases {
        let expected = ModelLimit::from_name(&entry.limit).expect("a known limit");
        // A panic is a refusal that names nothing: report it with the rest.
        match std::panic::catch_unwind(|| check(entry)) {
            Err(_) => wrong.push(format!("{}: panicked", entry.name)),
            Ok(Ok(_)) => wrong.push(format!("{}: accepted", entry.name)),
            Ok(Err(e)) => {
                let message = e.to_string();
                if e.limit() != Some(expected) || !message.starts_with(&expected.label()) {
                    wrong.push(format!(
                        "{}: expected `{expected}`, got: {message}",
                        entry.name
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
