//! Real TFHE: encrypt → evaluate (server key only) → decrypt equals the reference engine on
//! golden vectors; hostile bytes are refused with clear errors; two key sets evaluated
//! concurrently on several threads never mix.

use std::sync::OnceLock;

use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_core::golden::{GoldenFile, GoldenVector};
use pulsecure_core::ports::fhe::{Evaluator, FheClient, FheError};
use pulsecure_core::{Model, PatientFeatures, QuantizedInput, ReferenceEngine};
use pulsecure_fhe::{generate_keys, TfheClient, TfheEvaluator};

struct Fixture {
    model: Model,
    client: TfheClient,
    evaluator: TfheEvaluator,
    server_key: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let model = Model::from_json(DEFAULT_MODEL_JSON).expect("valid");
        let keys = generate_keys().expect("keygen");
        let evaluator = TfheEvaluator::new(&keys.server_key_bytes, &model).expect("evaluator");
        let client = TfheClient::new(&model, keys.client_key, keys.key_id).expect("client");
        Fixture {
            model,
            client,
            evaluator,
            server_key: keys.server_key_bytes,
        }
    })
}

/// The embedded model's golden vectors (beside its model.json).
fn golden() -> GoldenFile {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(pulsecure_core::embedded_model::DEFAULT_MODEL_PATH)
        .with_file_name("golden.json");
    let text = std::fs::read_to_string(path).expect("golden");
    GoldenFile::parse(&text).expect("golden-file shape")
}

fn quantized(model: &Model, v: &GoldenVector) -> QuantizedInput {
    QuantizedInput::from_patient(
        model,
        &PatientFeatures::from_ordered(model.features(), &v.raw).expect("valid"),
    )
}

fn golden_inputs(model: &Model, n: usize) -> Vec<QuantizedInput> {
    let golden = golden();
    // Take every k-th vector, and make sure both classes are present.
    let step = (golden.vectors.len() / n).max(1);
    golden
        .vectors
        .iter()
        .step_by(step)
        .take(n)
        .map(|v| quantized(model, v))
        .collect()
}

/// The encrypted circuit on the golden file's hardest inputs: both extreme logits and both
/// sides of every level change of the calibrated table, against the Python values.
#[test]
fn edge_vectors_decrypt_to_the_python_result() {
    let f = fixture();
    let golden = golden();
    let edges: Vec<&GoldenVector> = golden
        .edges_of("logit_min")
        .chain(golden.edges_of("logit_max"))
        .chain(golden.edges_of("table_boundary"))
        .collect();
    assert!(edges.len() >= 4);
    for v in edges {
        let request = f.client.encrypt(&quantized(&f.model, v)).expect("encrypt");
        let response = f.evaluator.evaluate(&request).expect("evaluate");
        let result = f.client.decrypt(&response).expect("decrypt");
        assert_eq!(
            (result.probability_code, result.high_risk),
            (v.p, v.high),
            "edge at index {}",
            v.index
        );
    }
}

#[test]
fn golden_vectors_decrypt_to_the_reference_result() {
    let f = fixture();
    let reference = ReferenceEngine::new(&f.model);
    let inputs = golden_inputs(&f.model, 20);
    let mut highs = 0;
    for input in &inputs {
        let request = f.client.encrypt(input).expect("encrypt");
        assert!(request.len() <= 8 * 1024, "upload {} bytes", request.len());
        let response = f.evaluator.evaluate(&request).expect("evaluate");
        let result = f.client.decrypt(&response).expect("decrypt");
        let t = reference.evaluate_input(input);
        assert_eq!(result.probability_code, t.probability_code);
        assert_eq!(result.high_risk, t.high_risk);
        highs += usize::from(t.high_risk);
    }
    assert!(
        highs > 0 && highs < inputs.len(),
        "sample covers both classes"
    );
}

#[test]
fn garbage_truncated_and_mismatched_requests_are_refused() {
    let f = fixture();
    let input = &golden_inputs(&f.model, 1)[0];
    let request = f.client.encrypt(input).expect("encrypt");
    let malformed = |r: Result<Vec<u8>, FheError>| matches!(r, Err(FheError::Malformed { .. }));
    assert!(malformed(f.evaluator.evaluate(b"")));
    assert!(malformed(
        f.evaluator
            .evaluate(b"garbage bytes that are not a request")
    ));
    assert!(malformed(
        f.evaluator.evaluate(&request[..request.len() / 2])
    ));
    let mut extra = request.clone();
    extra.push(0);
    assert!(malformed(f.evaluator.evaluate(&extra)));
    // A flipped byte inside a ciphertext's serialized header/metadata.
    let mut flipped = request.clone();
    flipped[60] ^= 0xff;
    assert!(f.evaluator.evaluate(&flipped).is_err());
    // A request bound to another model or key set.
    let mut other_model = request.clone();
    other_model[4] ^= 1;
    assert!(matches!(
        f.evaluator.evaluate(&other_model),
        Err(FheError::Mismatch { .. })
    ));
    let mut other_key = request.clone();
    other_key[36] ^= 1;
    assert!(matches!(
        f.evaluator.evaluate(&other_key),
        Err(FheError::Mismatch { .. })
    ));
    // A huge declared length must not allocate.
    let mut huge = request[..54].to_vec();
    huge.extend_from_slice(&[1, 0, 0xff, 0xff, 0xff, 0x7f]);
    assert!(malformed(f.evaluator.evaluate(&huge)));
}

#[test]
fn bad_server_key_bytes_are_refused() {
    let f = fixture();
    let model = &f.model;
    for bad in [
        &b""[..],
        &b"not a key"[..],
        &f.server_key[..f.server_key.len() / 3],
    ] {
        match TfheEvaluator::new(bad, model) {
            Err(FheError::Malformed {
                what: "server key", ..
            }) => {}
            other => panic!("expected a malformed-key error, got {:?}", other.err()),
        }
    }
}

#[test]
fn bad_result_bytes_are_refused() {
    let f = fixture();
    assert!(matches!(
        f.client.decrypt(b"nonsense"),
        Err(FheError::Malformed { .. })
    ));
    let input = &golden_inputs(&f.model, 1)[0];
    let response = f
        .evaluator
        .evaluate(&f.client.encrypt(input).expect("encrypt"))
        .expect("eval");
    assert!(f.client.decrypt(&response[..response.len() - 10]).is_err());
}

#[test]
fn two_key_sets_evaluated_concurrently_never_mix() {
    let f = fixture();
    let model = &f.model;
    let other = generate_keys().expect("keygen");
    let other_eval = TfheEvaluator::new(&other.server_key_bytes, model).expect("evaluator");
    let other_client = TfheClient::new(model, other.client_key, other.key_id).expect("client");
    let reference = ReferenceEngine::new(model);
    let inputs = golden_inputs(model, 4);
    std::thread::scope(|scope| {
        for (i, input) in inputs.iter().enumerate() {
            let (client, evaluator): (&TfheClient, &TfheEvaluator) = if i % 2 == 0 {
                (&f.client, &f.evaluator)
            } else {
                (&other_client, &other_eval)
            };
            let expected = reference.evaluate_input(input);
            scope.spawn(move || {
                let response = evaluator
                    .evaluate(&client.encrypt(input).expect("enc"))
                    .expect("eval");
                let r = client.decrypt(&response).expect("dec");
                assert_eq!(
                    (r.probability_code, r.high_risk),
                    (expected.probability_code, expected.high_risk)
                );
            });
        }
    });
    // A request for one key set is refused by the other evaluator.
    let request = f.client.encrypt(&inputs[0]).expect("enc");
    assert!(matches!(
        other_eval.evaluate(&request),
        Err(FheError::Mismatch { .. })
    ));
}

#[test]
fn debug_output_shows_no_key_material() {
    let f = fixture();
    let shown = format!("{:?} {:?}", f.client, f.evaluator);
    assert!(shown.contains("redacted"));
    assert!(shown.len() < 300, "{shown}");
}

/// Re-frame a real response with every block replaced by a *trivial* ciphertext of the
/// same plaintext (mask all zero, body = message · Δ): what anyone can forge without a key.
fn trivial_copy(response: &[u8], plaintexts: &[u64]) -> Vec<u8> {
    use pulsecure_fhe::params::CIPHERTEXT_LIMIT;
    use pulsecure_fhe::wire::{self, RESPONSE_MAGIC};
    use tfhe::safe_serialization::{safe_deserialize, safe_serialize};
    use tfhe::shortint::Ciphertext;

    let envelope = wire::read(RESPONSE_MAGIC, response, "result").expect("a real response");
    let blocks: Vec<Vec<u8>> = envelope
        .blocks
        .iter()
        .zip(plaintexts)
        .map(|(bytes, &m)| {
            let mut ct: Ciphertext = safe_deserialize(*bytes, CIPHERTEXT_LIMIT).expect("block");
            let modulus = ct.message_modulus.0 * ct.carry_modulus.0;
            // One padding bit, then message and carry: Δ = 2^63 / (message · carry).
            let delta = (1u64 << 63) / modulus;
            ct.ct.get_mut_mask().as_mut().fill(0);
            *ct.ct.get_mut_body().data = m * delta;
            let mut out = Vec::new();
            safe_serialize(&ct, &mut out, CIPHERTEXT_LIMIT).expect("serialize");
            out
        })
        .collect();
    wire::write(RESPONSE_MAGIC, &envelope.model, &envelope.key_id, &blocks)
}

/// A result made of trivial ciphertexts is refused even when it carries the right values:
/// no key was needed to make it, so it proves nothing was computed.
#[test]
fn trivial_result_ciphertexts_are_refused() {
    let f = fixture();
    let input = golden_inputs(&f.model, 1).remove(0);
    let request = f.client.encrypt(&input).expect("encrypt");
    let response = f.evaluator.evaluate(&request).expect("evaluate");
    let truth = ReferenceEngine::new(&f.model).evaluate_input(&input);
    let mut plaintexts: Vec<u64> = (0..response_nibbles(&f.model))
        .map(|k| u64::from((truth.probability_code >> (4 * k)) & 15))
        .collect();
    plaintexts.push(u64::from(truth.high_risk));
    let forged = trivial_copy(&response, &plaintexts);
    let err = f
        .client
        .decrypt(&forged)
        .expect_err("a trivial result is refused");
    assert!(
        matches!(&err, FheError::Malformed { what: "result", reason } if reason.contains("trivial")),
        "{err}"
    );
    // The honest response still decrypts to the reference result.
    let honest = f.client.decrypt(&response).expect("decrypts");
    assert_eq!(honest.probability_code, truth.probability_code);
}

/// Probability nibbles in a result of `model`.
fn response_nibbles(model: &Model) -> usize {
    pulsecure_fhe::circuit::CircuitPlan::compile(model)
        .expect("plan")
        .nibble_count()
}
