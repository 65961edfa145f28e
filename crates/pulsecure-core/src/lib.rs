//! Pulsecure core: the domain (clinical features, the model artifact, risk assessments), the
//! ports the adapters implement (FHE client and evaluator, storage, model registry, privacy,
//! clock), the application use cases, and the plaintext reference engine that defines what
//! every encrypted engine must compute bit for bit.
//!
//! This crate depends on serde and thiserror only: no adapter (tfhe, SQLite, OpenDP, UI) may
//! appear in its dependency tree (checked by `tests/no_adapter_dependencies.rs`).

pub mod civil_date;
pub mod domain;
pub mod embedded_model;
pub mod golden;
pub mod ports;
pub mod reference;
pub mod usecase;

pub use domain::assessment::{RiskAssessment, RiskClass};
pub use domain::model::{DigitTable, Model, ModelError};
pub use domain::model_limit::ModelLimit;
pub use domain::model_ref::ModelRef;
pub use domain::patient::{GivenField, PatientError, PatientFeatures};
pub use domain::patient_ref::{PatientRef, PatientRefError};
pub use domain::quantize::QuantizedInput;
pub use domain::released::ReleasedModel;
pub use reference::{ReferenceEngine, Trace};
