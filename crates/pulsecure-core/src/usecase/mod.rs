//! Use cases, written against the ports only.

pub mod analytics;
pub mod client_side;
pub mod inference;
pub mod model_service;
pub mod result_check;
pub mod stage;
