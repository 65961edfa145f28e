//! Real TFHE on the schema-2 PREVENT models: encrypt → evaluate (server key only) → decrypt
//! gives exactly the reference engine's index for published and random golden patients of
//! both sexes, the group stays encrypted (the request's group block is a ciphertext like the
//! rest), and a result for another model or a trivial ciphertext is refused.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use pulsecure_core::domain::equation::InputValue;
use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::ports::fhe::{Evaluator, FheError};
use pulsecure_fhe::{equation_fingerprint, generate_keys, wire, EquationClient, EquationEvaluator};
use serde_json::Value;
use tfhe::prelude::FheTryEncrypt;
use tfhe::safe_serialization::safe_serialize;
use tfhe::CompressedFheUint2;

fn read(model: &str, file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models")
        .join(model)
        .join("v1")
        .join(file);
    std::fs::read_to_string(path).expect("release file")
}

#[test]
fn encrypted_prevent_equals_the_reference_and_refuses_foreign_results() {
    let keys = generate_keys().expect("keygen");
    let cvd = EquationModel::from_json(&read("prevent-cvd-10y", "model.json")).expect("valid");
    let ascvd = EquationModel::from_json(&read("prevent-ascvd-10y", "model.json")).expect("valid");
    let evaluator = EquationEvaluator::new(&keys.server_key_bytes, &cvd).expect("evaluator");
    let client = EquationClient::new(&cvd, keys.client_key.clone(), keys.key_id).expect("client");
    let golden: Value =
        serde_json::from_str(&read("prevent-cvd-10y", "golden.json")).expect("json");
    let vectors = golden["vectors"].as_array().expect("vectors");
    // Two published patients (a woman and a man) and one random high-index patient.
    let chosen: Vec<&Value> = [0usize, 1, 41].iter().map(|&i| &vectors[i]).collect();
    let mut sexes = std::collections::BTreeSet::new();
    for v in chosen {
        let values: BTreeMap<String, InputValue> =
            serde_json::from_value(v["input"].clone()).expect("input");
        let checked = cvd.equation().check(&values).expect("valid");
        let reference = cvd.run(&checked);
        sexes.insert(reference.group);
        let (encoded, _) = cvd.encode(&checked);
        let request = client.encrypt(&encoded).expect("encrypt");
        let started = Instant::now();
        let (response, count) = evaluator.evaluate_with_stats(&request).expect("evaluate");
        println!(
            "{}: {} bytes request, {} bytes response, {} PBS, {} levels, {:.2} s",
            v["id"],
            request.len(),
            response.len(),
            count.total(),
            count.depth,
            started.elapsed().as_secs_f64()
        );
        let index = client.decrypt(&response).expect("decrypt");
        assert_eq!(index, reference.index, "{}", v["id"]);
        assert_eq!(cvd.read(index).map(|(p, _)| p), Some(reference.probability));
    }
    assert_eq!(sexes.len(), 2, "both coefficient sets were exercised");

    // A result bound to the other model is refused before decrypting.
    let other = EquationClient::new(&ascvd, keys.client_key.clone(), keys.key_id).expect("client");
    let values: BTreeMap<String, InputValue> =
        serde_json::from_value(vectors[0]["input"].clone()).expect("input");
    let request = client
        .encrypt(&cvd.encode(&cvd.equation().check(&values).expect("valid")).0)
        .expect("encrypt");
    let response = evaluator.evaluate(&request).expect("evaluate");
    assert!(matches!(
        other.decrypt(&response),
        Err(FheError::Mismatch { .. })
    ));
    // A request with one block too few is refused with a precise status.
    let mut short = request.clone();
    short.truncate(request.len() / 2);
    assert!(evaluator.evaluate(&short).is_err());

    // The group block must be a yes/no ciphertext: a 2-bit block (which could carry 2 or 3
    // and push every digit block past the many-LUT's input range) is refused as malformed.
    let envelope = wire::read(wire::REQUEST_MAGIC, &request, "request").expect("frame");
    let mut blocks: Vec<Vec<u8>> = envelope.blocks.iter().map(|b| b.to_vec()).collect();
    let two_bit = CompressedFheUint2::try_encrypt(1u8, &keys.client_key).expect("encrypt");
    let mut bytes = Vec::new();
    safe_serialize(&two_bit, &mut bytes, 1 << 16).expect("serialize");
    *blocks.last_mut().expect("group block") = bytes;
    let forged = wire::write(
        wire::REQUEST_MAGIC,
        &equation_fingerprint(&cvd),
        &keys.key_id,
        &blocks,
    );
    assert!(
        matches!(evaluator.evaluate(&forged), Err(FheError::Malformed { .. })),
        "a 2-bit group block is refused"
    );
    // A request bound to the other model is refused before any bootstrapping.
    let foreign = wire::write(
        wire::REQUEST_MAGIC,
        &equation_fingerprint(&ascvd),
        &keys.key_id,
        &envelope
            .blocks
            .iter()
            .map(|b| b.to_vec())
            .collect::<Vec<_>>(),
    );
    assert!(matches!(
        evaluator.evaluate(&foreign),
        Err(FheError::Mismatch { .. })
    ));
}
