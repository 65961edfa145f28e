//! What the client reads from an evaluator (or from the queue's database): a result frame, its
//! binding, and the compressed block inside — the input a hostile evaluator controls fully.
//! Checks beyond "no panic": a frame decrypts only if it is bound to this key and model, and
//! what it decrypts to is one of the model's segments (a probability level of its table, with
//! the class the threshold gives); the same bytes re-bound to this key and model reach the
//! block reader and the small-key decryption, which refuse every other length, padding bits,
//! trivial masks and phases outside the message space without panicking.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_core::ports::fhe::FheClient;
use pulsecure_core::Model;
use pulsecure_fhe::{generate_keys, model_fingerprint, TfheClient};

struct Fixture {
    client: TfheClient,
    model: Model,
    fingerprint: [u8; 32],
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let model = Model::from_json(DEFAULT_MODEL_JSON).expect("embedded model");
        let keys = generate_keys().expect("keys");
        let client = TfheClient::new(&model, keys.client_key, keys.key_id).expect("client");
        Fixture {
            client,
            fingerprint: model_fingerprint(&model),
            model,
        }
    })
}

fn check(f: &Fixture, frame: &[u8]) {
    if let Ok(result) = f.client.decrypt(frame) {
        assert_eq!(&frame[4..36], &f.fingerprint[..], "decrypted another model's frame");
        assert_eq!(&frame[36..52], &f.client.key_id().as_bytes()[..], "decrypted another key's frame");
        let levels = f.model.lut();
        assert!(levels.contains(&result.probability_code), "not a level of the table");
        assert_eq!(result.high_risk, result.probability_code >= f.model.threshold());
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    if data.len() > 256 << 10 {
        return;
    }
    check(f, data);
    if data.len() >= 54 {
        let mut rebound = data.to_vec();
        rebound[4..36].copy_from_slice(&f.fingerprint);
        rebound[36..52].copy_from_slice(f.client.key_id().as_bytes());
        check(f, &rebound);
    }
});
