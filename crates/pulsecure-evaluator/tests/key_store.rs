//! The evaluator's key store and evaluator cache with real TFHE keys: chunked uploads kept
//! atomically across restarts, hostile uploads refused with nothing kept, one evaluator per
//! key built once, least recently used evicted first.

use std::sync::{Arc, OnceLock};

use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_core::ports::fhe::{Evaluator, FheClient};
use pulsecure_core::{Model, PatientFeatures, QuantizedInput, ReferenceEngine};
use pulsecure_evaluator::{EvaluatorCache, KeyStore, KeyStoreError};
use pulsecure_fhe::{generate_keys, GeneratedKeys, TfheClient};

fn model() -> Model {
    Model::from_json(DEFAULT_MODEL_JSON).expect("valid")
}

/// Two key sets, generated once for the whole file.
fn key_sets() -> &'static [GeneratedKeys; 2] {
    static KEYS: OnceLock<[GeneratedKeys; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            generate_keys().expect("keygen"),
            generate_keys().expect("keygen"),
        ]
    })
}

fn upload(
    store: &KeyStore,
    bytes: &[u8],
    chunk: usize,
) -> Result<pulsecure_fhe::ServerKeyId, KeyStoreError> {
    let mut upload = store.begin_upload();
    for piece in bytes.chunks(chunk) {
        upload.push(piece)?;
    }
    upload.finish(None)
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_chunked_upload_is_kept_across_restarts_and_evaluates_like_the_reference() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let keys = &key_sets()[0];
    let store = KeyStore::open(&tmp.path().join("keys")).expect("store");
    assert!(!store.has(&keys.key_id));
    // 1 MiB chunks, as a gRPC stream would carry them.
    let id = upload(&store, &keys.server_key_bytes, 1 << 20).expect("upload");
    assert_eq!(id, keys.key_id);
    // Uploading the same key again is harmless.
    assert_eq!(
        upload(&store, &keys.server_key_bytes, 4 << 20).expect("again"),
        id
    );

    // A restarted evaluator finds it.
    let store = KeyStore::open(&tmp.path().join("keys")).expect("reopen");
    assert!(store.has(&id));
    assert_eq!(store.list().expect("list"), vec![id]);
    assert_eq!(store.read(&id).expect("read"), keys.server_key_bytes);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(tmp.path().join("keys"))
            .expect("meta")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o700);

    let model = model();
    let cache = EvaluatorCache::new(2);
    let evaluator = cache.get(&store, &id, &model).expect("evaluator");
    let client_key = key_sets()[0].client_key.clone();
    let client = TfheClient::new(&model, client_key, id).expect("client");
    let raw = [63.0, 0.0, 138.0, 1.0, 1.0, 1.0];
    let patient = PatientFeatures::from_ordered(model.features(), &raw).expect("valid");
    let input = QuantizedInput::from_patient(&model, &patient);
    let response = evaluator
        .evaluate(&client.encrypt(&input).expect("encrypt"))
        .expect("evaluate");
    let result = client.decrypt(&response).expect("decrypt");
    let reference = ReferenceEngine::new(&model).evaluate(&patient);
    assert_eq!(result.probability_code, reference.probability_code);
    assert_eq!(result.high_risk, reference.high_risk);
    // Built once: the second request gets the same evaluator.
    assert!(Arc::ptr_eq(
        &evaluator,
        &cache.get(&store, &id, &model).expect("cached")
    ));
}

#[test]
fn hostile_uploads_are_refused_and_nothing_is_kept() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("keys");
    let store = KeyStore::open(&dir).expect("store");
    let real = &key_sets()[0].server_key_bytes;

    assert!(matches!(
        upload(&store, b"not a key at all", 4),
        Err(KeyStoreError::Invalid(_))
    ));
    assert!(matches!(
        upload(&store, &real[..real.len() / 2], 1 << 20),
        Err(KeyStoreError::Invalid(_))
    ));
    let mut flipped = real.clone();
    flipped[40] ^= 0xff;
    assert!(upload(&store, &flipped, 1 << 20).is_err());

    // The announced id must be what the bytes hash to.
    let mut up = store.begin_upload();
    up.push(real).expect("push");
    assert!(matches!(
        up.finish(Some(
            &pulsecure_fhe::ServerKeyId::from_slice(&[7u8; 16]).expect("16 bytes")
        )),
        Err(KeyStoreError::WrongId { .. })
    ));

    // An upload that never ends is cut at the limit.
    let chunk = vec![0u8; 8 << 20];
    let mut up = store.begin_upload();
    let mut refused = false;
    for _ in 0..32 {
        if let Err(e) = up.push(&chunk) {
            assert!(matches!(e, KeyStoreError::TooLarge { .. }), "{e}");
            refused = true;
            break;
        }
    }
    assert!(refused, "an endless upload was not cut");
    assert!(
        up.received() == 0,
        "the refused upload's bytes were dropped"
    );

    assert!(files_in(&dir).is_empty(), "kept: {:?}", files_in(&dir));
    assert!(matches!(
        store.read(&pulsecure_fhe::ServerKeyId::from_slice(&[1u8; 16]).expect("16 bytes")),
        Err(KeyStoreError::Unknown(_))
    ));
}

#[test]
fn the_cache_keeps_at_most_its_capacity_and_evicts_the_least_recently_used() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = KeyStore::open(&tmp.path().join("keys")).expect("store");
    let [a, b] = key_sets();
    let id_a = upload(&store, &a.server_key_bytes, 1 << 20).expect("a");
    let id_b = upload(&store, &b.server_key_bytes, 1 << 20).expect("b");
    let model = model();
    let cache = EvaluatorCache::new(1);
    let first_a = cache.get(&store, &id_a, &model).expect("a");
    assert_eq!(cache.len(), 1);
    let _b = cache.get(&store, &id_b, &model).expect("b");
    assert_eq!(cache.len(), 1, "capacity 1");
    let second_a = cache.get(&store, &id_a, &model).expect("a again");
    assert!(
        !Arc::ptr_eq(&first_a, &second_a),
        "a was evicted and rebuilt"
    );

    // A deleted key is gone from the store and the cache.
    assert!(store.delete(&id_a).expect("delete"));
    assert!(!store.delete(&id_a).expect("delete again"));
    cache.evict_key(&id_a);
    assert!(cache.is_empty());
    assert!(cache.get(&store, &id_a, &model).is_err());
}
