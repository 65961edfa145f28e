//! The evaluator's side of Pulsecure: it holds server keys and models, never a client key,
//! a vault, the clinic's database or any patient value (a dependency test enforces it).
//!
//! [`KeyStore`] keeps uploaded server keys on disk, content-addressed by their key id, written
//! atomically and checked against this build's parameters before they are kept.
//! [`EvaluatorCache`] keeps a bounded number of ready evaluators (a decompressed server key
//! is about 120 MB), least recently used first out, so a key's evaluator is built once and
//! not per request.

mod cache;
mod key_store;

pub use cache::{CacheError, EvaluatorCache};
pub use key_store::{KeyStore, KeyStoreError, KeyUpload};
