//! The clinician's side of the evaluator service.
//!
//! [`Connection`] reaches an evaluator (Unix socket, or `https://` with mutual TLS) and offers
//! its key operations; [`RemoteEvaluator`] implements the core's `Evaluator` port over it, so
//! the use cases do not know whether the evaluation runs in this process or elsewhere.
//! Calls retry with back-off while the evaluator is unreachable or busy, for a bounded time.

mod connection;
mod error;
mod peer;
mod remote_evaluator;

pub use connection::{ClientTls, Connection, RemoteConfig};
pub use error::RemoteError;
pub use peer::{check_peer, check_socket_path, Untrusted};
pub use remote_evaluator::RemoteEvaluator;
