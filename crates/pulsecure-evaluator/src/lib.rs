//! The evaluator's side of Pulsecure: it holds server keys and models, never a client key,
//! a vault, the clinic's database or any patient value (a dependency test enforces it).
//!
//! [`KeyStore`] keeps uploaded server keys on disk, content-addressed by their key id, written
//! atomically and checked against this build's parameters before they are kept.
//! [`EvaluatorCache`] keeps a bounded number of ready evaluators (a decompressed server key
//! is about 120 MB), least recently used first out, so a key's evaluator is built once and
//! not per request. [`ModelShelf`] holds the signed models served; [`Executor`] runs FHE work
//! on a rayon pool behind a bounded queue; [`EvaluatorService`] is the gRPC API and
//! [`serve`](serve::serve) runs it on a Unix socket or over mutual TLS. [`QueueEngine`] is
//! the same machinery as a worker of the PostgreSQL job queue (`pulsecure-evaluator worker`).

mod cache;
pub mod cli;
mod execution;
mod key_store;
pub mod metrics;
mod model_shelf;
mod queue_engine;
pub mod serve;
mod service;

pub use cache::{CacheError, EvaluatorCache};
pub use execution::{ExecutionError, Executor};
pub use key_store::{key_id_prefix, KeyStore, KeyStoreError, KeyUpload, MAX_KEY_BYTES};
pub use model_shelf::{ModelShelf, ModelShelfError, ServedModel};
pub use queue_engine::QueueEngine;
pub use serve::{serve, ServeConfig, ServeError, TlsFiles};
pub use service::{ClientLimits, EvaluatorService};
