//! Why a signature or key was refused.

use thiserror::Error;

/// Signing and verification failures. Messages name the model and the reason.
#[derive(Debug, Error)]
pub enum SigningError {
    /// The .minisig text does not parse.
    #[error("signature file is malformed or truncated: {0}")]
    MalformedSignature(String),
    /// A public key that does not parse.
    #[error("public key is malformed: {0}")]
    MalformedPublicKey(String),
    /// Signed by a key that is not trusted here.
    #[error("model signed by untrusted key {key_id}")]
    UntrustedKey {
        /// The signature's key id (hex).
        key_id: String,
    },
    /// A retired release key signed a release it was not kept trusted for.
    #[error("key {key_id} is a retired release key, trusted only for {scope}; it cannot publish {model_id} version {version}")]
    RetiredKey {
        /// The signature's key id (hex).
        key_id: String,
        /// What the key is still trusted for.
        scope: String,
        /// The claimed model id.
        model_id: String,
        /// The claimed version.
        version: u64,
    },
    /// The signature does not match the bytes (tampered model or signature).
    #[error("signature by key {key_id} does not match the model file: the model or its signature was altered")]
    BadSignature {
        /// Key id (hex).
        key_id: String,
    },
    /// The trusted comment is not a Pulsecure model claim.
    #[error("the signature's trusted comment is not a Pulsecure model claim: {0}")]
    MalformedClaim(String),
    /// The signed claim and the file disagree.
    #[error("model {model_id} version {version}: signed {field} {signed} differs from the file's {actual}")]
    ClaimMismatch {
        /// Model id from the file (or the claim when the file has none).
        model_id: String,
        /// Version from the file.
        version: u64,
        /// `model id`, `version` or `sha256`.
        field: &'static str,
        /// Value in the signed claim.
        signed: String,
        /// Value in the file.
        actual: String,
    },
    /// The model verified but does not load.
    #[error(transparent)]
    Model(#[from] pulsecure_core::ModelError),
    /// Publisher-side failures (key generation, wrong secret-key password, signing).
    #[error("publisher key operation failed: {0}")]
    Publisher(String),
}
