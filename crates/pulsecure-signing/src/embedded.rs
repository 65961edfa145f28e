//! The embedded default model's release check, shared by the clinician's program and the
//! evaluator: the bytes compiled into the binary must hash to the recorded SHA-256 and carry
//! the pinned release key's signature.

use pulsecure_core::embedded_model::{DEFAULT_MODEL_JSON, DEFAULT_MODEL_SHA256};

use crate::keys::PublisherKey;
use crate::verify::{sha256_hex, verify_model, VerifiedModel};

/// The embedded model's signature by the release key.
pub const DEFAULT_MODEL_MINISIG: &str =
    include_str!("../../../models/cvd-lr/v3/model.json.minisig");

/// Releases the binary embedded before the current one, `(model.json, model.json.minisig)`:
/// still carried (a few KB) so that screenings stored under them stay readable after an
/// upgrade. Each is verified like any release (by the retired release key that signed it,
/// trusted for exactly that release).
pub const EARLIER_RELEASES: &[(&str, &str)] = &[
    (
        include_str!("../../../models/cvd-lr/v1/model.json"),
        include_str!("../../../models/cvd-lr/v1/model.json.minisig"),
    ),
    (
        include_str!("../../../models/cvd-lr/v2/model.json"),
        include_str!("../../../models/cvd-lr/v2/model.json.minisig"),
    ),
];

/// Verify the embedded model (hash, then release signature and claim); the error says which
/// check failed.
pub fn verify_embedded() -> Result<VerifiedModel, String> {
    let actual = sha256_hex(DEFAULT_MODEL_JSON.as_bytes());
    if actual != DEFAULT_MODEL_SHA256 {
        return Err(format!(
            "embedded model hash {actual} differs from the recorded {DEFAULT_MODEL_SHA256}"
        ));
    }
    let release = PublisherKey::release_keys().map_err(|e| e.to_string())?;
    verify_model(
        DEFAULT_MODEL_JSON.as_bytes(),
        DEFAULT_MODEL_MINISIG,
        &release,
    )
    .map_err(|e| format!("embedded model: {e}"))
}

/// The published-equation (schema-2) releases this binary carries, `(model.json,
/// model.json.minisig)`: the PREVENT base models and the 2013 Pooled Cohort Equations. They serve until a newer release of the
/// same id is installed, and each is verified like any release before use (release key,
/// signed claim, full schema-2 validation).
pub const EQUATION_RELEASES: &[(&str, &str)] = &[
    (
        include_str!("../../../models/prevent-cvd-10y/v2/model.json"),
        include_str!("../../../models/prevent-cvd-10y/v2/model.json.minisig"),
    ),
    (
        include_str!("../../../models/prevent-ascvd-10y/v2/model.json"),
        include_str!("../../../models/prevent-ascvd-10y/v2/model.json.minisig"),
    ),
    (
        include_str!("../../../models/pce-ascvd-10y/v1/model.json"),
        include_str!("../../../models/pce-ascvd-10y/v1/model.json.minisig"),
    ),
];

/// Verify every carried equation release with the release keys; the error names the one
/// that failed.
pub fn verify_equation_releases() -> Result<Vec<VerifiedModel>, String> {
    let release = PublisherKey::release_keys().map_err(|e| e.to_string())?;
    EQUATION_RELEASES
        .iter()
        .enumerate()
        .map(|(i, (json, signature))| {
            verify_model(json.as_bytes(), signature, &release)
                .map_err(|e| format!("carried equation release #{}: {e}", i + 1))
        })
        .collect()
}
