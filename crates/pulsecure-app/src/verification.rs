//! The one place the application verifies a model release, counted so that tests can hold
//! a screening to a single verification.

use std::sync::atomic::{AtomicUsize, Ordering};

use pulsecure_signing::{verify_model, PublisherKey, SigningError, VerifiedModel};

static VERIFICATIONS: AtomicUsize = AtomicUsize::new(0);

/// Verify `bytes` against `signature` with `keys` (signature, claim, model validation).
pub fn verify_release(
    bytes: &[u8],
    signature: &str,
    keys: &[PublisherKey],
) -> Result<VerifiedModel, SigningError> {
    count_verification();
    verify_model(bytes, signature, keys)
}

/// Count a verification made elsewhere (the embedded model's, in the signing crate).
pub(crate) fn count_verification() {
    VERIFICATIONS.fetch_add(1, Ordering::Relaxed);
}

/// How many model verifications this process has run.
pub fn model_verifications() -> usize {
    VERIFICATIONS.load(Ordering::Relaxed)
}
