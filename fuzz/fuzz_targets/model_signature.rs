//! Signature parser and verifier: a minisign signature text and a model file from outside,
//! checked against the pinned release key. Input layout: signature text, a NUL byte, model
//! bytes. Never a panic; a forged pair never verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
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
        panic!("a fuzzed signature verified against the release key");
    }
    let _ = PublisherKey::parse(signature, "fuzz");
    let _ = pulsecure_signing::ModelClaim::parse(signature);
});
