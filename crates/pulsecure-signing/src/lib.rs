//! Model signatures in the minisign format (Ed25519 over BLAKE2b-512 of the file), so the
//! standard `minisign` tool verifies Pulsecure's signatures and Pulsecure verifies its.
//!
//! The signed trusted comment carries the model id, version and SHA-256 of `model.json`
//! ([`claim::ModelClaim`]); verification checks the signature against pinned publisher keys,
//! then that the claim matches the file, before the model is parsed for use. Anti-rollback
//! is the core's `ModelService`; this crate answers only "is this exactly what a trusted
//! publisher released?".

pub mod claim;
pub mod embedded;
pub mod error;
pub mod keys;
pub mod publish;
pub mod verify;

pub use claim::ModelClaim;
pub use error::SigningError;
pub use keys::{KeyScope, PublisherKey, RELEASE_PUBLIC_KEY};
pub use verify::{verify_model, VerifiedModel};
