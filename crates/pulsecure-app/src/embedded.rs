//! The embedded default model: its bytes checked against the recorded SHA-256 and its
//! signature by the pinned release key, once per process (the bytes live in the binary's
//! read-only data; a patched binary is caught at the first use).

use std::sync::{Arc, OnceLock};

use pulsecure_core::embedded_model::{DEFAULT_MODEL_JSON, DEFAULT_MODEL_SHA256};
use pulsecure_core::Model;
use pulsecure_signing::verify::sha256_hex;
use pulsecure_signing::PublisherKey;

use crate::error::{AppError, Result};
use crate::verification::verify_release;

/// The embedded model's signature by the release key.
pub const DEFAULT_MODEL_MINISIG: &str =
    include_str!("../../../models/cvd-lr/v1/model.json.minisig");

static EMBEDDED: OnceLock<std::result::Result<Arc<Model>, String>> = OnceLock::new();

fn verify_embedded() -> std::result::Result<Arc<Model>, String> {
    let actual = sha256_hex(DEFAULT_MODEL_JSON.as_bytes());
    if actual != DEFAULT_MODEL_SHA256 {
        return Err(format!(
            "embedded model hash {actual} differs from the recorded {DEFAULT_MODEL_SHA256}"
        ));
    }
    let release = PublisherKey::release().map_err(|e| e.to_string())?;
    let verified = verify_release(
        DEFAULT_MODEL_JSON.as_bytes(),
        DEFAULT_MODEL_MINISIG,
        std::slice::from_ref(&release),
    )
    .map_err(|e| format!("embedded model: {e}"))?;
    Ok(Arc::new(verified.model))
}

/// The embedded model, verified (hash and release signature) on first use.
pub fn embedded_model() -> Result<Arc<Model>> {
    EMBEDDED
        .get_or_init(verify_embedded)
        .clone()
        .map_err(AppError::Integrity)
}
