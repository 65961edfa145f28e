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

/// The values (mask, then body) of a real response's one switched block.
fn switched_values(response: &[u8]) -> (pulsecure_fhe::wire::Envelope<'_>, Vec<u64>) {
    use pulsecure_fhe::params::PARAMETERS;
    use pulsecure_fhe::{switched_wire, wire};
    let envelope = wire::read(wire::RESPONSE_MAGIC, response, "result").expect("a real response");
    assert_eq!(envelope.blocks.len(), 1, "one compressed block");
    let count = PARAMETERS.lwe_dimension.0 + 1;
    let values = switched_wire::unpack(envelope.blocks[0], count, LOG_MODULUS).expect("unpack");
    (envelope, values)
}

/// log2 of 2N for today's parameters (N = 2048).
const LOG_MODULUS: u32 = 12;

/// A response frame around one switched block made of `values`.
fn reframed(envelope: &pulsecure_fhe::wire::Envelope<'_>, blocks: &[Vec<u64>]) -> Vec<u8> {
    use pulsecure_fhe::{switched_wire, wire};
    let blocks: Vec<Vec<u8>> = blocks
        .iter()
        .map(|v| switched_wire::pack(v, LOG_MODULUS))
        .collect();
    wire::write(
        wire::RESPONSE_MAGIC,
        &envelope.model,
        &envelope.key_id,
        &blocks,
    )
}

/// The compressed result is one 1 379-byte block (the frame 1 437 bytes), and a result made
/// without the key is refused even when it carries a right value: a *trivial* block (mask all
/// zero, the body the plaintext), which anyone can forge; so are a block in the padding half
/// (what noise overflow or tampering gives), a number that is not one of the model's
/// segments, another block count and a cut block.
#[test]
fn compressed_results_are_small_and_forged_ones_are_refused() {
    let f = fixture();
    let input = golden_inputs(&f.model, 1).remove(0);
    let request = f.client.encrypt(&input).expect("encrypt");
    let response = f.evaluator.evaluate(&request).expect("evaluate");
    assert_eq!(
        response.len(),
        1_437,
        "54-byte header, 4-byte length, 1 379-byte block"
    );
    let truth = ReferenceEngine::new(&f.model).evaluate_input(&input);
    let honest = f.client.decrypt(&response).expect("decrypts");
    assert_eq!(
        (honest.probability_code, honest.high_risk),
        (truth.probability_code, truth.high_risk)
    );
    let (envelope, values) = switched_values(&response);
    let n = values.len() - 1;
    let box_width = 1u64 << (LOG_MODULUS - 5);
    let refused = |blocks: &[Vec<u64>], why: &str| {
        let err = f
            .client
            .decrypt(&reframed(&envelope, blocks))
            .expect_err(why);
        assert!(
            matches!(&err, FheError::Malformed { what: "result", reason } if reason.contains(why)),
            "{why}: {err}"
        );
    };
    let plan = pulsecure_fhe::circuit::CircuitPlan::compile(&f.model).expect("plan");
    let segments = plan.segment_results().len() as u64;
    for segment in 0..16u64 {
        let mut trivial = vec![0u64; n];
        trivial.push(segment * box_width);
        refused(&[trivial], "trivial");
    }
    let shifted = |by: u64| {
        let mut v = values.clone();
        v[n] = (v[n] + by) % (1 << LOG_MODULUS);
        v
    };
    refused(&[shifted(16 * box_width)], "one of the model's segments");
    // Every number from the model's last segment to 15 is a message, not a segment.
    let mut probed = 0;
    for extra in 1..16u64 {
        let moved = shifted(extra * box_width);
        match f.client.decrypt(&reframed(&envelope, &[moved])) {
            Err(FheError::Malformed { reason, .. }) => {
                assert!(reason.contains("one of the model's segments"), "{reason}");
                probed += 1;
            }
            // Another segment of the model: another (wrong) result, which the reference
            // check downstream refuses.
            Ok(other) => assert_ne!(other.probability_code, truth.probability_code),
            Err(other) => panic!("{other}"),
        }
    }
    assert!(probed >= 16 - segments as usize, "{probed}");
    refused(&[values.clone(), values.clone()], "2 blocks, expected 1");
    let mut cut = reframed(&envelope, std::slice::from_ref(&values));
    cut.truncate(cut.len() - 1);
    cut[54..58].copy_from_slice(&1_378u32.to_le_bytes());
    let err = f.client.decrypt(&cut).expect_err("a cut block");
    assert!(
        err.to_string().contains("1378 bytes, expected 1379"),
        "{err}"
    );
    // The honest values, re-framed, still decrypt: the refusals came from the changes.
    let same = f
        .client
        .decrypt(&reframed(&envelope, std::slice::from_ref(&values)))
        .expect("decrypts");
    assert_eq!(same.probability_code, truth.probability_code);
}
