//! What the evaluator service reads from a client: a protobuf `EvaluateRequest`, its binding
//! fields, the `PSQ3` frame inside and the compressed ciphertexts in the frame (tfhe's
//! size-limited, conformance-checked deserialization), against a real server key.
//! Checks beyond "no panic": only a frame bound to this key and model decodes as sent; the
//! same frame re-bound to them reaches the ciphertext parser, which never yields more blocks
//! than a frame may carry.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use prost::Message;
use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_core::Model;
use pulsecure_fhe::{generate_keys, model_fingerprint, TfheEvaluator};
use pulsecure_rpc::v1::EvaluateRequest;

struct Fixture {
    evaluator: TfheEvaluator,
    model: [u8; 32],
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let model = Model::from_json(DEFAULT_MODEL_JSON).expect("embedded model");
        let keys = generate_keys().expect("keys");
        let evaluator = TfheEvaluator::new(&keys.server_key_bytes, &model).expect("evaluator");
        Fixture {
            evaluator,
            model: model_fingerprint(&model),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Ok(item) = EvaluateRequest::decode(data) else {
        return;
    };
    if item.key_id.len() != 16 || item.model_fingerprint.len() != 32 || item.request.len() > 256 << 10 {
        return;
    }
    if f.evaluator.decode_inputs(&item.request).is_ok() {
        assert_eq!(&item.request[4..36], &f.model[..], "decoded a frame for another model");
        assert_eq!(&item.request[36..52], &f.evaluator.key_id().as_bytes()[..], "decoded another key's frame");
    }
    if item.request.len() >= 54 {
        let mut rebound = item.request.clone();
        rebound[4..36].copy_from_slice(&f.model);
        rebound[36..52].copy_from_slice(f.evaluator.key_id().as_bytes());
        if let Ok(blocks) = f.evaluator.decode_inputs(&rebound) {
            assert!(blocks.len() <= 64, "more blocks than a frame may carry");
        }
    }
});
