//! Signature parser and verifier: a minisign signature text and a model file from outside,
//! checked against the pinned release key. Input layout: signature text, a NUL byte, model
//! bytes. Never a panic; nothing but the shipped model (the only file the release key has
//! signed) ever verifies, whatever the signature text says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_signing::keys::PublisherKey;
use pulsecure_signing::verify::verify_model;

fuzz_target!(|data: &[u8]| {
    let (signature, model) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(signature) = std::str::from_utf8(signature) else {
        return;
    };
    let Ok(release) = PublisherKey::release() else {
        return;
    };
    if verify_model(model, signature, &[release]).is_ok() {
        assert_eq!(
            model,
            DEFAULT_MODEL_JSON.as_bytes(),
            "a file other than the shipped model verified against the release key"
        );
    }
    let _ = PublisherKey::parse(signature, "fuzz");
    let _ = pulsecure_signing::ModelClaim::parse(signature);
});
