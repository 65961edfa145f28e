//! Every way a model release can be wrong is refused with a reason naming it.

use std::io::Cursor;

use pulsecure_signing::publish::{generate_keypair, sign_model};
use pulsecure_signing::{verify_model, ModelClaim, PublisherKey, SigningError};

const MODEL: &str = include_str!("../../../models/cvd-lr/v1/model.json");
const RELEASE_SIGNATURE: &str = include_str!("../../../models/cvd-lr/v1/model.json.minisig");
const MODEL_V2: &str = include_str!("../../../models/cvd-lr/v2/model.json");
const RELEASE_SIGNATURE_V2: &str = include_str!("../../../models/cvd-lr/v2/model.json.minisig");

/// The current release key, then the retired one that signed v1.
fn release() -> Vec<PublisherKey> {
    PublisherKey::release_keys().expect("release keys parse")
}

/// A throwaway publisher (unencrypted key, so tests can sign with any trusted comment).
struct TestPublisher {
    pair: minisign::KeyPair,
}

impl TestPublisher {
    fn new() -> Self {
        TestPublisher {
            pair: minisign::KeyPair::generate_unencrypted_keypair().expect("keypair"),
        }
    }

    fn key(&self) -> PublisherKey {
        PublisherKey::parse(&self.pair.pk.to_base64(), "test").expect("parse")
    }

    fn sign(&self, bytes: &[u8], comment: &str) -> String {
        minisign::sign(None, &self.pair.sk, Cursor::new(bytes), Some(comment), None)
            .expect("sign")
            .into_string()
    }
}

fn sha(bytes: &[u8]) -> String {
    pulsecure_signing::verify::sha256_hex(bytes)
}

fn claim(id: &str, version: u64, bytes: &[u8]) -> String {
    ModelClaim {
        model_id: id.into(),
        version,
        sha256: sha(bytes),
    }
    .encode()
}

#[test]
fn v1_still_verifies_with_the_retired_release_key() {
    let v = verify_model(MODEL.as_bytes(), RELEASE_SIGNATURE, &release()).expect("valid");
    assert_eq!((v.claim.model_id.as_str(), v.claim.version), ("cvd-lr", 1));
    assert_eq!(v.key_id, release()[1].key_id());
    assert_eq!(v.key_id, "860389025CCBA8E1");
}

#[test]
fn v2_verifies_with_the_key_that_signed_it_retired_in_the_second_rotation() {
    let v = verify_model(MODEL_V2.as_bytes(), RELEASE_SIGNATURE_V2, &release()).expect("valid");
    assert_eq!((v.claim.model_id.as_str(), v.claim.version), ("cvd-lr", 2));
    assert_eq!(v.key_id, release()[2].key_id());
    assert_eq!(v.key_id, "955762AD02AEB7D9");
    assert_ne!(
        v.key_id,
        release()[0].key_id(),
        "the current key did not sign v2"
    );
    let first_retired_only = vec![release()[1].clone()];
    let err = verify_model(
        MODEL_V2.as_bytes(),
        RELEASE_SIGNATURE_V2,
        &first_retired_only,
    )
    .expect_err("the first retired key did not sign v2");
    assert!(matches!(err, SigningError::UntrustedKey { .. }), "{err}");
}

#[test]
fn a_retired_key_cannot_sign_a_newer_version_or_another_model() {
    let publisher = TestPublisher::new();
    let mut key = publisher.key();
    key.scope = Some(pulsecure_signing::KeyScope {
        releases: vec![("cvd-lr".into(), 1)],
    });
    let bytes = MODEL.as_bytes();
    let kept = publisher.sign(bytes, &claim("cvd-lr", 1, bytes));
    verify_model(bytes, &kept, std::slice::from_ref(&key)).expect("within its scope");
    let v2 = MODEL.replace("\"version\": 1,", "\"version\": 2,");
    let newer = publisher.sign(v2.as_bytes(), &claim("cvd-lr", 2, v2.as_bytes()));
    let err = verify_model(v2.as_bytes(), &newer, std::slice::from_ref(&key))
        .expect_err("beyond its scope");
    assert!(
        matches!(err, SigningError::RetiredKey { version: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("cvd-lr up to version 1"), "{err}");
    let other = MODEL.replace("\"model_id\": \"cvd-lr\"", "\"model_id\": \"other\"");
    let foreign = publisher.sign(other.as_bytes(), &claim("other", 1, other.as_bytes()));
    let err = verify_model(other.as_bytes(), &foreign, std::slice::from_ref(&key))
        .expect_err("another model");
    assert!(matches!(err, SigningError::RetiredKey { .. }), "{err}");
}

#[test]
fn a_retired_key_that_signed_two_models_keeps_both_and_nothing_else() {
    let publisher = TestPublisher::new();
    let mut key = publisher.key();
    key.scope = Some(pulsecure_signing::KeyScope {
        releases: vec![("cvd-lr".into(), 1), ("cvd-lr-twin".into(), 1)],
    });
    let trusted = std::slice::from_ref(&key);
    for id in ["cvd-lr", "cvd-lr-twin"] {
        let text = MODEL.replace(
            "\"model_id\": \"cvd-lr\"",
            &format!("\"model_id\": \"{id}\""),
        );
        let sig = publisher.sign(text.as_bytes(), &claim(id, 1, text.as_bytes()));
        verify_model(text.as_bytes(), &sig, trusted).expect("within its scope");
    }
    let third = MODEL.replace("\"model_id\": \"cvd-lr\"", "\"model_id\": \"cvd-lr-third\"");
    let sig = publisher.sign(
        third.as_bytes(),
        &claim("cvd-lr-third", 1, third.as_bytes()),
    );
    let err = verify_model(third.as_bytes(), &sig, trusted).expect_err("a third model");
    assert!(
        err.to_string()
            .contains("cvd-lr up to version 1, cvd-lr-twin up to version 1"),
        "{err}"
    );
}

#[test]
fn the_key_that_signed_prevent_v1_is_retired_for_prevent_v1_only() {
    let keys = release();
    let retired = keys
        .iter()
        .find(|k| k.key_id() == "3130161418ED5071")
        .expect("compiled in as retired");
    let scope = retired.scope.as_ref().expect("scoped");
    assert_eq!(
        scope.releases,
        vec![
            ("prevent-cvd-10y".to_string(), 1),
            ("prevent-ascvd-10y".to_string(), 1)
        ]
    );
    assert_ne!(
        keys[0].key_id(),
        "3130161418ED5071",
        "no longer the release key"
    );
}

#[test]
fn a_tampered_model_byte_is_refused() {
    let mut bytes = MODEL.as_bytes().to_vec();
    let at = MODEL.find("\"bias\"").expect("bias field") + 10;
    bytes[at] ^= 0x01;
    let err = verify_model(&bytes, RELEASE_SIGNATURE, &release()).expect_err("tampered");
    assert!(matches!(err, SigningError::BadSignature { .. }), "{err}");
    assert!(err.to_string().contains("altered"));
}

#[test]
fn a_tampered_signature_is_refused() {
    let lines: Vec<&str> = RELEASE_SIGNATURE.lines().collect();
    // Alter the trusted comment (it is covered by the global signature).
    let edited = RELEASE_SIGNATURE.replace(lines[2], &lines[2].replace("version=1", "version=9"));
    let err = verify_model(MODEL.as_bytes(), &edited, &release()).expect_err("edited comment");
    assert!(matches!(err, SigningError::BadSignature { .. }), "{err}");
    // Alter a byte of the signature itself.
    let mut sig_line: Vec<char> = lines[1].chars().collect();
    sig_line[20] = if sig_line[20] == 'A' { 'B' } else { 'A' };
    let edited = RELEASE_SIGNATURE.replace(lines[1], &sig_line.iter().collect::<String>());
    let err = verify_model(MODEL.as_bytes(), &edited, &release()).expect_err("edited sig");
    assert!(
        matches!(
            err,
            SigningError::BadSignature { .. } | SigningError::MalformedSignature(_)
        ),
        "{err}"
    );
}

#[test]
fn an_untrusted_key_is_refused_with_its_key_id() {
    let other = TestPublisher::new();
    let sig = other.sign(MODEL.as_bytes(), &claim("cvd-lr", 1, MODEL.as_bytes()));
    let err = verify_model(MODEL.as_bytes(), &sig, &release()).expect_err("untrusted");
    match err {
        SigningError::UntrustedKey { key_id } => assert_eq!(key_id, other.key().key_id()),
        e => panic!("unexpected {e}"),
    }
    // Trusting it explicitly makes the same signature acceptable.
    let mut keys = release();
    keys.push(other.key());
    verify_model(MODEL.as_bytes(), &sig, &keys).expect("trusted now");
}

#[test]
fn truncated_or_garbage_signatures_are_refused() {
    let cases = vec![
        String::new(),
        "garbage".to_string(),
        RELEASE_SIGNATURE[..RELEASE_SIGNATURE.len() / 2].to_string(),
        RELEASE_SIGNATURE
            .lines()
            .take(2)
            .collect::<Vec<_>>()
            .join("\n"),
    ];
    for sig in cases {
        let err = verify_model(MODEL.as_bytes(), &sig, &release()).expect_err("bad sig");
        assert!(
            matches!(
                err,
                SigningError::MalformedSignature(_) | SigningError::BadSignature { .. }
            ),
            "{err}"
        );
    }
}

#[test]
fn a_claim_that_does_not_match_the_file_is_refused() {
    let publisher = TestPublisher::new();
    let keys = vec![publisher.key()];
    let bytes = MODEL.as_bytes();
    for (comment, field) in [
        (claim("other-model", 1, bytes), "model id"),
        (claim("cvd-lr", 2, bytes), "version"),
        (claim("cvd-lr", 1, b"other content"), "sha256"),
    ] {
        let sig = publisher.sign(bytes, &comment);
        match verify_model(bytes, &sig, &keys).expect_err("mismatch") {
            SigningError::ClaimMismatch {
                field: f,
                model_id,
                version,
                ..
            } => {
                assert_eq!(f, field);
                assert_eq!((model_id.as_str(), version), ("cvd-lr", 1));
            }
            e => panic!("unexpected {e}"),
        }
    }
    let sig = publisher.sign(bytes, "timestamp:1700000000");
    assert!(matches!(
        verify_model(bytes, &sig, &keys),
        Err(SigningError::MalformedClaim(_))
    ));
}

#[test]
fn publisher_keygen_and_sign_round_trip_with_a_password() {
    let (public, secret) = generate_keypair("publisher pass".into()).expect("keygen");
    assert!(secret.contains("secret key"));
    let sig = sign_model(MODEL.as_bytes(), &secret, "publisher pass".into()).expect("sign");
    let key = PublisherKey::parse(&public, "new").expect("public");
    verify_model(MODEL.as_bytes(), &sig, &[key]).expect("verifies");
    let err = sign_model(MODEL.as_bytes(), &secret, "wrong pass".into()).expect_err("wrong");
    assert!(matches!(err, SigningError::Publisher(_)), "{err}");
}

#[test]
fn a_short_global_signature_is_refused_not_a_panic() {
    // minisign 0.10 would slice a global signature shorter than 64 bytes and panic.
    let mut lines: Vec<&str> = RELEASE_SIGNATURE.lines().collect();
    for short in ["AAAA", "", "R/hq", &lines[3][..86]] {
        lines[3] = short;
        let text = lines.join("\n");
        let result = std::panic::catch_unwind(|| verify_model(MODEL.as_bytes(), &text, &release()));
        match result {
            Ok(Err(SigningError::MalformedSignature(_))) => {}
            Ok(other) => panic!("global signature {short:?}: {other:?}"),
            Err(_) => panic!("global signature {short:?} panicked"),
        }
    }
}

#[test]
fn the_fuzzer_crash_input_is_refused() {
    // fuzz/model_signature's crash: signature text, NUL, model bytes.
    let data = include_bytes!("fuzz-regressions/short-global-signature.bin");
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let text = String::from_utf8_lossy(&data[..split]).into_owned();
    let model = data.get(split + 1..).unwrap_or_default();
    assert!(verify_model(model, &text, &release()).is_err());
}

const PREVENT_CVD: &str = include_str!("../../../models/prevent-cvd-10y/v2/model.json");

#[test]
fn a_schema_2_release_signs_and_verifies_as_an_equation_model() {
    let (public, secret) = generate_keypair("pw".into()).expect("keypair");
    let signature = sign_model(PREVENT_CVD.as_bytes(), &secret, "pw".into()).expect("sign");
    let key = PublisherKey::parse(&public, "test").expect("key");
    let v = verify_model(PREVENT_CVD.as_bytes(), &signature, &[key]).expect("verifies");
    assert_eq!(
        (v.claim.model_id.as_str(), v.claim.version),
        ("prevent-cvd-10y", 2)
    );
    let model = v.model.as_equation().expect("a schema-2 model");
    assert_eq!(model.id(), "prevent-cvd-10y");
    assert!(v.model.as_logistic().is_none());
}

#[test]
fn a_schema_2_release_whose_claim_names_another_model_is_refused() {
    let publisher = TestPublisher::new();
    let bytes = PREVENT_CVD.as_bytes();
    let signature = publisher.sign(bytes, &claim("prevent-ascvd-10y", 2, bytes));
    assert!(matches!(
        verify_model(bytes, &signature, &[publisher.key()]),
        Err(SigningError::ClaimMismatch {
            field: "model id",
            ..
        })
    ));
}

#[test]
fn the_key_that_signed_prevent_v2_and_pce_v1_keeps_exactly_those_per_model() {
    let keys = release();
    let retired = keys
        .iter()
        .find(|k| k.key_id() == "B2F8498C3BA273E3")
        .expect("compiled in as retired");
    let scope = retired.scope.as_ref().expect("scoped");
    assert!(scope.allows("prevent-cvd-10y", 2) && scope.allows("prevent-ascvd-10y", 2));
    assert!(scope.allows("pce-ascvd-10y", 1));
    assert!(
        !scope.allows("pce-ascvd-10y", 2),
        "one version per model id: PREVENT's version 2 does not open PCE's"
    );
    assert!(!scope.allows("prevent-cvd-10y", 3) && !scope.allows("cvd-lr", 3));
    assert_eq!(keys[0].key_id(), "82A0770BF539882A", "the release key");
}
