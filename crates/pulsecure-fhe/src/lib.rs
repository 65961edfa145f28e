//! TFHE adapter for Pulsecure: key generation, client-side encryption and decryption, and the
//! evaluator that computes the whole calibrated-risk pipeline on ciphertexts.
//!
//! The evaluator works directly on tfhe's shortint blocks (2-bit message, 2-bit carry,
//! 128-bit security, failure probability 2^-128) and passes its server key explicitly to
//! every bootstrapping: there is no thread-local key state, so evaluators with different
//! keys can share threads safely.

pub mod accumulate;
pub mod backend;
pub mod circuit;
#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "client")]
pub mod equation_client;
pub mod equation_evaluator;
pub mod equation_lwe;
pub mod evaluator;
pub mod guard;
pub mod keys;
pub mod layout;
pub mod lookup;
pub mod lwe_wire;
#[cfg(feature = "client")]
pub mod measure;
pub mod params;
#[cfg(feature = "client")]
pub mod result_decrypt;
pub mod result_switch;
mod server_key_id;
pub mod switched_wire;
pub mod tfhe_backend;
pub mod wire;

use sha2::{Digest, Sha256};

use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::Model;

#[cfg(feature = "client")]
pub use client::TfheClient;
#[cfg(feature = "client")]
pub use equation_client::EquationClient;
pub use equation_evaluator::EquationEvaluator;
pub use evaluator::{check_request, TfheEvaluator};
pub use keys::{check_server_key, load_server_key};
#[cfg(feature = "client")]
pub use keys::{client_key_from_bytes, client_key_to_bytes, generate_keys, GeneratedKeys};
pub use server_key_id::ServerKeyId;

/// SHA-256 of the model document's canonical JSON: binds requests and results to one model.
pub fn model_fingerprint(model: &Model) -> [u8; 32] {
    let canonical = serde_json::to_vec(model.document()).unwrap_or_default();
    Sha256::digest(canonical).into()
}

/// SHA-256 of a schema-2 model document's canonical JSON: binds requests and results to it.
pub fn equation_fingerprint(model: &EquationModel) -> [u8; 32] {
    let canonical = serde_json::to_vec(model.document()).unwrap_or_default();
    Sha256::digest(canonical).into()
}
