//! The evaluator's gRPC API, `pulsecure.evaluator.v1`, shared by the evaluator service and the
//! clinician's client: the generated protobuf types and stubs ([`v1`]), the addresses both
//! sides agree on ([`address`]) and the message limits ([`limits`]).
//!
//! The `.proto` lives in `proto/` and is compiled at build time by protox (pure Rust), so a
//! fresh machine needs no `protoc`.

pub mod address;
pub mod limits;

/// Generated from `proto/pulsecure/evaluator/v1/evaluator.proto`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("pulsecure.evaluator.v1");
}

pub use address::{
    check_private_dir, default_socket_path, fallback_socket_dir, AddressError, EvaluatorAddress,
    ListenAddress,
};
