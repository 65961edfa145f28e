//! Pulsecure's application layer, between the adapters and the two front ends.
//!
//! [`Workstation::open`] resolves, once per session, the vault, the verified active model,
//! the TFHE client, the evaluator, the database and the privacy ledger; single and batch
//! screening, history, export, DP releases with their audit entries, model installation and
//! trust, and key operations are its methods (or those of [`Records`], the same session
//! without the screening keys). The CLI and the TUI only parse, prompt, print and map exit
//! codes; nothing else wires adapters together.

mod active_model;
pub mod analytics;
mod byte_count;
pub mod catalog;
pub mod data_dir;
pub mod dates;
pub mod embedded;
mod equation_items;
pub mod equation_screening;
pub mod error;
pub mod evaluator_service;
pub mod evaluator_setting;
pub mod fhir_screening;
pub mod history;
pub mod keys;
pub mod models;
mod queue_equation;
mod queue_logistic;
pub mod queue_screening;
pub mod records;
mod result_refusal;
mod row_chunks;
pub mod screening;
pub mod trust;
pub mod unlocked;
pub mod verification;
pub mod workbench;
pub mod workstation;

pub use data_dir::DataDir;
pub use error::{AppError, Result};
pub use evaluator_setting::EvaluatorChoice;
pub use records::Records;
pub use workstation::Workstation;
