//! Ports: the traits adapters implement. The application layer talks only to these.

pub mod audit;
pub mod catalog;
pub mod clock;
pub mod fhe;
pub mod privacy;
pub mod registry;
pub mod store;
