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
//! Hostile connections meet bounds before tonic sees them ([`listener`]: connection cap,
//! handshake and first-stream timeouts, back-off when out of descriptors) and in front of
//! its router ([`request_limits`]: call and message timeouts, a budget of buffered bytes).

mod cache;
pub mod cli;
mod connection;
mod execution;
mod key_store;
pub mod listener;
pub mod metrics;
mod model_shelf;
pub mod peer;
mod queue_engine;
pub mod request_limits;
pub mod serve;
mod service;
mod tenants;

pub use cache::{CacheError, Engine, EvaluatorCache};
pub use execution::{ExecutionError, Executor};
pub use key_store::{KeyQuota, KeyStore, KeyStoreError, KeyUpload, MAX_KEY_BYTES};
pub use listener::ConnectionLimits;
pub use model_shelf::{ModelShelf, ModelShelfError, ServedModel, ShelvedModel};
pub use peer::{Peer, PeerIdentity};
pub use queue_engine::QueueEngine;
pub use request_limits::RequestLimits;
pub use serve::{serve, ServeConfig, ServeError, TlsFiles};
pub use service::{ClientLimits, EvaluatorService, Tenancy};
