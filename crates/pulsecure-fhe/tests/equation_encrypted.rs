//! Real TFHE keys on the schema-2 PREVENT models: encrypt → evaluate (public weights, no key)
//! → decrypt gives exactly the reference engine's accumulator for every golden patient of both
//! models (published and seeded random, both sexes), with the result's noise measured against
//! the proven bound; the request does not reveal the coefficient set; and a result for another
//! model, a trivial one, one off by a plaintext step or with noise beyond the bound, and a
//! malformed request are refused.

use std::collections::BTreeMap;
use std::path::PathBuf;

use pulsecure_core::domain::equation::InputValue;
use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::ports::fhe::{Evaluator, FheError};
use pulsecure_fhe::equation_lwe::{LinearMap, DELTA_BITS};
use pulsecure_fhe::lwe_wire::{read_result, result_bytes};
use pulsecure_fhe::{equation_fingerprint, generate_keys, wire, EquationClient, EquationEvaluator};
use serde_json::Value;

const RELEASE: &str = "v2";

fn read(model: &str, file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models")
        .join(model)
        .join(RELEASE)
        .join(file);
    std::fs::read_to_string(path).expect("release file")
}

fn model(id: &str) -> EquationModel {
    EquationModel::from_json(&read(id, "model.json")).expect("valid")
}

fn vectors(id: &str) -> Vec<Value> {
    let golden: Value = serde_json::from_str(&read(id, "golden.json")).expect("json");
    golden["vectors"].as_array().expect("vectors").clone()
}

fn patient(m: &EquationModel, v: &Value) -> pulsecure_core::domain::equation::Inputs {
    let values: BTreeMap<String, InputValue> =
        serde_json::from_value(v["input"].clone()).expect("input");
    m.equation().check(&values).expect("valid")
}

/// Re-frame a response with its one ciphertext changed by `edit`.
fn edited(
    response: &[u8],
    m: &EquationModel,
    key_id: &[u8; 16],
    edit: impl Fn(&mut [u64]),
) -> Vec<u8> {
    let envelope = wire::read(wire::RESPONSE_MAGIC, response, "result").expect("frame");
    let dimension = LinearMap::compile(m).expect("map").dimension();
    let mut ct = read_result(envelope.blocks[0], dimension).expect("ciphertext");
    edit(ct.as_mut());
    wire::write(
        wire::RESPONSE_MAGIC,
        &equation_fingerprint(m),
        key_id,
        &[result_bytes(&ct)],
    )
}

#[test]
fn every_golden_patient_decrypts_to_the_reference_accumulator() {
    let keys = generate_keys().expect("keygen");
    for id in ["prevent-cvd-10y", "prevent-ascvd-10y"] {
        let m = model(id);
        let evaluator = EquationEvaluator::new(&keys.server_key_bytes, &m).expect("evaluator");
        let client = EquationClient::new(&m, keys.client_key.clone(), keys.key_id).expect("client");
        let map = evaluator.map();
        let (mut groups, mut sizes) = (BTreeMap::new(), std::collections::BTreeSet::new());
        let mut worst_noise = 0u64;
        let golden = vectors(id);
        for v in &golden {
            let inputs = patient(&m, v);
            let reference = m.run(&inputs);
            assert_eq!(
                reference.acc,
                v["acc"].as_i64().expect("acc"),
                "{}",
                v["id"]
            );
            let encoded = m.encode(&inputs);
            let request = client.encrypt(&encoded).expect("encrypt");
            sizes.insert(request.len());
            let response = evaluator.evaluate(&request).expect("evaluate");
            let (value, noise) = client.decrypt_with_noise(&response).expect("decrypt");
            worst_noise = worst_noise.max(noise);
            assert_eq!(
                value as i64,
                reference.acc + m.index().offset,
                "{id} {}",
                v["id"]
            );
            assert_eq!(m.index_of(value as i64 - m.index().offset), reference.index);
            *groups.entry(reference.group).or_insert(0) += 1;
        }
        println!(
            "{id}: {} golden patients exact, groups {groups:?}; {} slots; request {:?} B; \
             worst noise 2^{:.1}, proven bound 2^{:.1}, half a plaintext step 2^{}",
            golden.len(),
            map.slots(),
            sizes,
            (worst_noise.max(1) as f64).log2(),
            (map.noise_bound() as f64).log2(),
            DELTA_BITS - 1
        );
        assert_eq!(groups.len(), 2, "both coefficient sets were exercised");
        assert_eq!(
            sizes.len(),
            1,
            "a request's size does not depend on the patient"
        );
        assert!(worst_noise <= map.noise_bound());
    }
}

#[test]
fn foreign_tampered_and_malformed_messages_are_refused() {
    let keys = generate_keys().expect("keygen");
    let cvd = model("prevent-cvd-10y");
    let ascvd = model("prevent-ascvd-10y");
    let evaluator = EquationEvaluator::new(&keys.server_key_bytes, &cvd).expect("evaluator");
    let client = EquationClient::new(&cvd, keys.client_key.clone(), keys.key_id).expect("client");
    let golden = vectors("prevent-cvd-10y");
    let inputs = patient(&cvd, &golden[0]);
    let expected = (cvd.run(&inputs).acc + cvd.index().offset) as u64;
    let request = client.encrypt(&cvd.encode(&inputs)).expect("encrypt");
    let response = evaluator.evaluate(&request).expect("evaluate");
    assert_eq!(client.decrypt(&response).expect("decrypt"), expected);

    // A result bound to the other model is refused before decrypting.
    let other = EquationClient::new(&ascvd, keys.client_key.clone(), keys.key_id).expect("client");
    assert!(matches!(
        other.decrypt(&response),
        Err(FheError::Mismatch { .. })
    ));

    // One plaintext step added by the evaluator decrypts to another accumulator (which the
    // result check refuses against the reference); noise beyond the proven bound, or a
    // keyless (trivial) ciphertext, is refused by the client itself.
    let body = |ct: &mut [u64]| *ct.last_mut().expect("body") += 1 << DELTA_BITS;
    let shifted = edited(&response, &cvd, &keys.key_id, body);
    assert_eq!(client.decrypt(&shifted).expect("decrypts"), expected + 1);
    let noisy = |ct: &mut [u64]| *ct.last_mut().expect("body") += 1 << (DELTA_BITS - 2);
    let err = client
        .decrypt(&edited(&response, &cvd, &keys.key_id, noisy))
        .expect_err("noise beyond the bound");
    assert!(err.to_string().contains("noise"), "{err}");
    let trivial = |ct: &mut [u64]| {
        let n = ct.len();
        ct[..n - 1].fill(0);
        ct[n - 1] = LinearMap::encode(expected);
    };
    let err = client
        .decrypt(&edited(&response, &cvd, &keys.key_id, trivial))
        .expect_err("trivial");
    assert!(err.to_string().contains("trivial"), "{err}");

    // Requests: truncated, a slot missing, a slot that is not a ciphertext, another model.
    let mut short = request.clone();
    short.truncate(request.len() / 2);
    assert!(matches!(
        evaluator.evaluate(&short),
        Err(FheError::Malformed { .. })
    ));
    let envelope = wire::read(wire::REQUEST_MAGIC, &request, "request").expect("frame");
    let blocks: Vec<Vec<u8>> = envelope.blocks.iter().map(|b| b.to_vec()).collect();
    let frame = |blocks: &[Vec<u8>], m: &EquationModel| {
        wire::write(
            wire::REQUEST_MAGIC,
            &equation_fingerprint(m),
            &keys.key_id,
            blocks,
        )
    };
    let err = evaluator
        .evaluate(&frame(&blocks[1..], &cvd))
        .expect_err("a slot missing");
    assert!(err.to_string().contains("slots"), "{err}");
    let mut garbage = blocks.clone();
    garbage[3] = vec![0u8; 40];
    assert!(matches!(
        evaluator.evaluate(&frame(&garbage, &cvd)),
        Err(FheError::Malformed { .. })
    ));
    assert!(matches!(
        evaluator.evaluate(&frame(&blocks, &ascvd)),
        Err(FheError::Mismatch { .. })
    ));
}
