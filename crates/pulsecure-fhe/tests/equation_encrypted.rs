//! Real TFHE keys on the schema-2 models (PREVENT: one encrypted output; the 2013 PCE: three,
//! the digits of its weights): encrypt → evaluate (public weights, no key) → decrypt gives
//! exactly the reference engine's accumulator — and every output exactly its reference value —
//! for every golden patient of every model (published and seeded random, every coefficient
//! set), with each output's noise measured against its proven bound; the request does not
//! reveal the coefficient set; and a result for another model, a trivial one, one off by a
//! plaintext step or with noise beyond the bound, one with an output missing, and a malformed
//! request are refused.

use std::collections::BTreeMap;

use pulsecure_core::domain::equation::InputValue;
use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::ports::fhe::{Evaluator, FheError};
use pulsecure_fhe::equation_lwe::{LinearMap, DELTA_BITS};
use pulsecure_fhe::{equation_fingerprint, generate_keys, wire, EquationClient, EquationEvaluator};
use serde_json::Value;

use pulsecure_testkit::models::EQUATION_RELEASES as MODELS;

const PCE: &str = "pce-ascvd-10y";

fn model(id: &str) -> EquationModel {
    pulsecure_testkit::models::equation_model(id)
}

fn vectors(id: &str) -> Vec<Value> {
    pulsecure_testkit::models::equation_vectors(id)
}

fn patient(m: &EquationModel, v: &Value) -> pulsecure_core::domain::equation::Inputs {
    let values: BTreeMap<String, InputValue> =
        serde_json::from_value(v["input"].clone()).expect("input");
    m.equation().check(&values).expect("valid")
}

/// Re-frame a response with its first ciphertext changed by `edit`.
fn edited(
    response: &[u8],
    m: &EquationModel,
    key_id: &pulsecure_fhe::ServerKeyId,
    edit: impl Fn(&mut [u64]),
) -> Vec<u8> {
    edited_output(response, m, key_id, 0, edit)
}

/// Re-frame a (compressed) response with output `j`'s body changed by `edit` (given as the
/// last coefficient of a one-coefficient slice, as the body of a ciphertext is its last).
fn edited_output(
    response: &[u8],
    m: &EquationModel,
    key_id: &pulsecure_fhe::ServerKeyId,
    j: usize,
    edit: impl Fn(&mut [u64]),
) -> Vec<u8> {
    let envelope = wire::read(wire::RESPONSE_MAGIC, response, "result").expect("frame");
    let mut blocks: Vec<Vec<u8>> = envelope.blocks.iter().map(|b| b.to_vec()).collect();
    let mut body = [u64::from_le_bytes(
        blocks[j].as_slice().try_into().expect("8 bytes"),
    )];
    edit(&mut body);
    blocks[j] = body[0].to_le_bytes().to_vec();
    wire::write(
        wire::RESPONSE_MAGIC,
        &equation_fingerprint(m),
        key_id,
        &blocks,
    )
}

#[test]
fn every_golden_patient_decrypts_to_the_reference_accumulator() {
    let keys = generate_keys().expect("keygen");
    for (id, _) in MODELS {
        let m = model(id);
        let evaluator = EquationEvaluator::new(&keys.server_key_bytes, &m).expect("evaluator");
        let client = EquationClient::new(&m, keys.client_key.clone(), keys.key_id).expect("client");
        let map = evaluator.map();
        let outputs = map.outputs();
        assert_eq!(outputs.len(), m.output_count());
        let (mut groups, mut sizes) = (BTreeMap::new(), std::collections::BTreeSet::new());
        let mut response_sizes = std::collections::BTreeSet::new();
        let mut worst_noise = vec![0u64; outputs.len()];
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
            response_sizes.insert(response.len());
            // Compressed: the frame's 54 bytes, then a length and a body per output.
            assert_eq!(response.len(), 54 + 12 * outputs.len(), "{id}");
            let (value, noise) = client
                .decrypt_with_noise(&request, &response)
                .expect("decrypt");
            assert_eq!(noise.len(), outputs.len());
            for (worst, n) in worst_noise.iter_mut().zip(&noise) {
                *worst = (*worst).max(*n);
            }
            // Every output decrypts to its own reference value (plus its offset).
            let (values, _) = client
                .decrypt_outputs(&request, &response)
                .expect("outputs");
            let decrypted: Vec<i64> = values
                .iter()
                .zip(outputs)
                .map(|(&x, o)| x as i64 - o.offset())
                .collect();
            assert_eq!(decrypted, reference.outputs, "{id} {}", v["id"]);
            if let Some(golden) = v.get("outputs") {
                let golden: Vec<i64> = golden
                    .as_array()
                    .expect("outputs")
                    .iter()
                    .map(|x| x.as_i64().expect("int"))
                    .collect();
                assert_eq!(reference.outputs, golden, "{id} {}", v["id"]);
            }
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
            "{id}: {} golden patients exact, groups {groups:?}; {} slots; request {:?} B, \
             response {:?} B; half a plaintext step 2^{}",
            golden.len(),
            map.slots(),
            sizes,
            response_sizes,
            DELTA_BITS - 1
        );
        for (j, (output, worst)) in outputs.iter().zip(&worst_noise).enumerate() {
            println!(
                "{id}: output {j}: weight mass 2^{:.2}, range 2^{:.2}; worst noise 2^{:.1}, \
                 proven bound 2^{:.1}",
                (output.weight_mass() as f64).log2(),
                (output.top().max(1) as f64).log2(),
                ((*worst).max(1) as f64).log2(),
                (output.noise_bound() as f64).log2(),
            );
            assert!(*worst <= output.noise_bound(), "{id} output {j}");
        }
        assert_eq!(
            groups.len(),
            m.group_count(),
            "every coefficient set was exercised"
        );
        assert_eq!(
            sizes.len(),
            1,
            "a request's size does not depend on the patient"
        );
        assert_eq!(response_sizes.len(), 1);
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
    assert_eq!(
        client.decrypt(&request, &response).expect("decrypt"),
        expected
    );

    // The other model's client refuses the request as made for another model, unread.
    let other = EquationClient::new(&ascvd, keys.client_key.clone(), keys.key_id).expect("client");
    assert!(matches!(
        other.decrypt(&request, &response),
        Err(FheError::Mismatch { .. })
    ));
    // A response to another request of this client is not the map of this one.
    let second = client.encrypt(&cvd.encode(&inputs)).expect("encrypt");
    let err = client
        .decrypt(&second, &response)
        .expect_err("the answer to another request");
    assert!(err.to_string().contains("linear map"), "{err}");

    // Anything but the exact public map of the request this client sent — one plaintext step
    // added, noise beyond the bound, a keyless (trivial) ciphertext — is refused before any
    // decryption, so a crafted result learns nothing from the client's reaction.
    let body = |ct: &mut [u64]| *ct.last_mut().expect("body") += 1 << DELTA_BITS;
    let shifted = edited(&response, &cvd, &keys.key_id, body);
    let err = client
        .decrypt(&request, &shifted)
        .expect_err("not what the map gives");
    assert!(err.to_string().contains("linear map"), "{err}");
    let noisy = |ct: &mut [u64]| *ct.last_mut().expect("body") += 1 << (DELTA_BITS - 2);
    let err = client
        .decrypt(&request, &edited(&response, &cvd, &keys.key_id, noisy))
        .expect_err("noise beyond the bound");
    assert!(err.to_string().contains("linear map"), "{err}");
    let trivial = |ct: &mut [u64]| {
        let n = ct.len();
        ct[..n - 1].fill(0);
        ct[n - 1] = LinearMap::encode(expected);
    };
    let err = client
        .decrypt(&request, &edited(&response, &cvd, &keys.key_id, trivial))
        .expect_err("trivial");
    assert!(err.to_string().contains("linear map"), "{err}");

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

#[test]
fn a_pce_result_with_an_output_missing_shifted_or_noisy_is_refused() {
    let keys = generate_keys().expect("keygen");
    let pce = model(PCE);
    let evaluator = EquationEvaluator::new(&keys.server_key_bytes, &pce).expect("evaluator");
    let client = EquationClient::new(&pce, keys.client_key.clone(), keys.key_id).expect("client");
    assert_eq!(evaluator.map().outputs().len(), 3);
    assert_eq!(evaluator.map().digit_bits(), 8);
    let golden = vectors(PCE);
    let inputs = patient(&pce, &golden[0]);
    let expected = (pce.run(&inputs).acc + pce.index().offset) as u64;
    let request = client.encrypt(&pce.encode(&inputs)).expect("encrypt");
    let response = evaluator.evaluate(&request).expect("evaluate");
    assert_eq!(
        client.decrypt(&request, &response).expect("decrypt"),
        expected
    );

    // Any change to output j — a plaintext step, noise, a keyless ciphertext — is refused
    // before any decryption: the client predicted every output's exact bytes.
    for j in 0..3 {
        let body = |ct: &mut [u64]| *ct.last_mut().expect("body") += 1 << DELTA_BITS;
        let shifted = edited_output(&response, &pce, &keys.key_id, j, body);
        let err = client
            .decrypt(&request, &shifted)
            .expect_err("not what the map gives");
        assert!(err.to_string().contains("linear map"), "output {j}: {err}");
        let noisy = |ct: &mut [u64]| *ct.last_mut().expect("body") += 1 << (DELTA_BITS - 2);
        let err = client
            .decrypt(
                &request,
                &edited_output(&response, &pce, &keys.key_id, j, noisy),
            )
            .expect_err("noise beyond the bound");
        assert!(err.to_string().contains("linear map"), "{err}");
        // A keyless (trivial) ciphertext cannot be sent at all: the compressed response
        // carries no mask, the client uses the masks it computed itself. A body set to a
        // clean encoding of some value is refused like any other.
        let clean = |ct: &mut [u64]| *ct.last_mut().expect("body") = LinearMap::encode(1);
        let err = client
            .decrypt(
                &request,
                &edited_output(&response, &pce, &keys.key_id, j, clean),
            )
            .expect_err("a clean body");
        assert!(err.to_string().contains("linear map"), "{err}");
    }
    // An output past its top is refused before recombining.
    let (values, _) = client
        .decrypt_outputs(&request, &response)
        .expect("outputs");
    let past = evaluator.map().outputs()[1].top() + 1 - values[1];
    let far = |ct: &mut [u64]| {
        let body = ct.last_mut().expect("body");
        *body = body.wrapping_add(LinearMap::encode(past));
    };
    let err = client
        .decrypt(
            &request,
            &edited_output(&response, &pce, &keys.key_id, 1, far),
        )
        .expect_err("outside the range");
    assert!(err.to_string().contains("linear map"), "{err}");
    // One output missing, or one extra.
    let envelope = wire::read(wire::RESPONSE_MAGIC, &response, "result").expect("frame");
    let blocks: Vec<Vec<u8>> = envelope.blocks.iter().map(|b| b.to_vec()).collect();
    for wrong in [
        blocks[..2].to_vec(),
        [blocks.clone(), vec![blocks[0].clone()]].concat(),
    ] {
        let frame = wire::write(
            wire::RESPONSE_MAGIC,
            &equation_fingerprint(&pce),
            &keys.key_id,
            &wrong,
        );
        let err = client
            .decrypt(&request, &frame)
            .expect_err("wrong output count");
        assert!(err.to_string().contains("linear map"), "{err}");
    }
    // A single-output (PREVENT) client refuses the PCE's result: another model.
    let prevent = model("prevent-cvd-10y");
    let other =
        EquationClient::new(&prevent, keys.client_key.clone(), keys.key_id).expect("client");
    assert!(matches!(
        other.decrypt(&request, &response),
        Err(FheError::Mismatch { .. })
    ));
}

/// Version skew is named, not mistaken for tampering: an equation request in the old frame
/// version (an older client, which reads only full results) is refused by the evaluator
/// with a message saying to upgrade the client, and an uncompressed result (an older
/// evaluator) by the client; the honest pair still agrees.
#[test]
fn an_older_client_or_evaluator_is_told_so() {
    let keys = generate_keys().expect("keygen");
    let cvd = model("prevent-cvd-10y");
    let evaluator = EquationEvaluator::new(&keys.server_key_bytes, &cvd).expect("evaluator");
    let client = EquationClient::new(&cvd, keys.client_key.clone(), keys.key_id).expect("client");
    let inputs = patient(&cvd, &vectors("prevent-cvd-10y")[0]);
    let request = client.encrypt(&cvd.encode(&inputs)).expect("encrypt");
    let response = evaluator.evaluate(&request).expect("evaluate");
    let expected = (cvd.run(&inputs).acc + cvd.index().offset) as u64;
    assert_eq!(
        client.decrypt(&request, &response).expect("decrypt"),
        expected
    );

    let mut old_request = request.clone();
    old_request[..4].copy_from_slice(b"PSQ2");
    let err = evaluator
        .evaluate(&old_request)
        .expect_err("an older client");
    assert!(err.to_string().contains("upgrade the client"), "{err}");

    let mut old_response = response.clone();
    old_response[..4].copy_from_slice(b"PSR1");
    let err = client
        .decrypt(&request, &old_response)
        .expect_err("an older evaluator");
    assert!(err.to_string().contains("upgrade the evaluator"), "{err}");
}
