//! The test kit every crate's integration tests share (a dev-dependency only; nothing of it
//! reaches a binary): the released models read from `models/`, their golden vectors,
//! patients that vary every feature, and process helpers for tests that launch binaries.
//!
//! `pulsecure-core`'s own tests keep their helpers: a dev-dependency on a crate built on
//! the core would give them a second copy of every core type.

pub mod models;
pub mod patients;
pub mod processes;
