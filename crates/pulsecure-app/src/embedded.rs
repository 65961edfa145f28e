//! The embedded default model: its bytes checked against the recorded SHA-256 and its
//! signature by the pinned release key, once per process (the bytes live in the binary's
//! read-only data; a patched binary is caught at the first use).

use std::sync::{Arc, OnceLock};

use pulsecure_core::Model;

use crate::error::{AppError, Result};
use crate::verification::count_verification;

pub use pulsecure_signing::embedded::DEFAULT_MODEL_MINISIG;

static EMBEDDED: OnceLock<std::result::Result<Arc<Model>, String>> = OnceLock::new();

fn verify_embedded() -> std::result::Result<Arc<Model>, String> {
    count_verification();
    let verified = pulsecure_signing::embedded::verify_embedded()?;
    verified
        .model
        .into_logistic()
        .map(Arc::new)
        .ok_or_else(|| "the embedded model is not a schema-1 (cvd-lr) release".to_string())
}

/// The embedded model, verified (hash and release signature) on first use.
pub fn embedded_model() -> Result<Arc<Model>> {
    EMBEDDED
        .get_or_init(verify_embedded)
        .clone()
        .map_err(AppError::Integrity)
}
