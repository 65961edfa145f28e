//! Use cases, written against the ports only.

pub mod analytics;
pub mod inference;
pub mod model_service;
pub mod result_check;
