//! The server key an evaluator receives carries only what the circuit needs (no OPRF key:
//! about half of tfhe's default), and keys made by earlier builds (classic parameters, with
//! and without the OPRF key) still load and evaluate exactly.

use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_core::ports::fhe::{Evaluator, FheClient};
use pulsecure_core::{Model, PatientFeatures, QuantizedInput, ReferenceEngine};
use pulsecure_fhe::keys::generate_earlier_keys;
use pulsecure_fhe::{
    check_server_key, client_key_from_bytes, client_key_to_bytes, generate_keys, GeneratedKeys,
    TfheClient, TfheEvaluator,
};

fn evaluates_exactly(model: &Model, keys: GeneratedKeys) {
    let evaluator = TfheEvaluator::new(&keys.server_key_bytes, model).expect("evaluator");
    // As a vault keeps it: the client key of any supported parameter set reads back.
    let stored = client_key_to_bytes(&keys.client_key).expect("serialize");
    let client_key = client_key_from_bytes(&stored).expect("a supported parameter set");
    let client = TfheClient::new(model, client_key, keys.key_id).expect("client");
    let patient =
        PatientFeatures::from_ordered(model.features(), &[66.0, 1.0, 148.0, 0.0, 1.0, 1.0])
            .expect("patient");
    let request = client
        .encrypt(&QuantizedInput::from_patient(model, &patient))
        .expect("encrypt");
    let result = client
        .decrypt(&evaluator.evaluate(&request).expect("evaluate"))
        .expect("decrypt");
    let expected = ReferenceEngine::new(model).evaluate(&patient);
    assert_eq!(result.probability_code, expected.probability_code);
    assert_eq!(result.high_risk, expected.high_risk);
}

#[test]
fn the_uploaded_key_is_lean_and_earlier_keys_still_work() {
    let model = Model::from_json(DEFAULT_MODEL_JSON).expect("model");
    let lean = generate_keys().expect("keygen");
    let [earlier, classic] = generate_earlier_keys().expect("keygen");
    let (lean_len, earlier_len) = (lean.server_key_bytes.len(), earlier.server_key_bytes.len());
    println!("compressed server key: {lean_len} B now, {earlier_len} B with tfhe's OPRF key");
    assert!(lean_len <= 32 << 20, "{lean_len} B is over 32 MiB");
    assert!(earlier_len > lean_len * 3 / 2, "the OPRF key was dropped");
    assert_eq!(
        check_server_key(&lean.server_key_bytes).expect("lean"),
        lean.key_id
    );
    assert_eq!(
        check_server_key(&earlier.server_key_bytes).expect("earlier"),
        earlier.key_id
    );
    assert_eq!(
        check_server_key(&classic.server_key_bytes).expect("classic"),
        classic.key_id
    );
    evaluates_exactly(&model, lean);
    evaluates_exactly(&model, earlier);
    evaluates_exactly(&model, classic);
}
