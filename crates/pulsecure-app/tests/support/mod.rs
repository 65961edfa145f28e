//! Shared set-up of the application-layer tests: a data directory initialized with the
//! cheapest accepted KDF cost, and patient values.
#![allow(dead_code)]

use std::collections::BTreeMap;

use pulsecure_app::keys::init;
use pulsecure_app::DataDir;
use pulsecure_vault::{KdfParams, Password};

/// The vault password of every test directory.
pub const PASSWORD: &str = "correct horse battery staple";

/// The test password.
pub fn password() -> Password {
    Password::from(PASSWORD.to_string())
}

/// A fresh data directory with keys, vault and database (real TFHE key generation).
pub fn initialized() -> (tempfile::TempDir, DataDir) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::new(tmp.path().join("data"));
    let kdf = KdfParams {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };
    init(&dir, &password(), kdf, 1.0).expect("init");
    (tmp, dir)
}

/// Plausible values for the embedded model's features, plus the population's `known_cvd`
/// (no), as given fields (numbered by name).
pub fn patient_values() -> Vec<pulsecure_core::GivenField> {
    let mut values = patient_map();
    values.insert("known_cvd".into(), 0.0);
    pulsecure_core::GivenField::in_name_order(&values)
}

/// Plausible values for the embedded model's features (by name).
pub fn patient_map() -> BTreeMap<String, f64> {
    [
        ("age", 63.0),
        ("told_diabetes", 0.0),
        ("systolic_bp", 142.0),
        ("current_smoker", 0.0),
        ("male", 1.0),
        ("told_high_bp", 1.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
