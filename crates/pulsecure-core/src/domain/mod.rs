//! Domain types: what a clinical feature, a patient, a model and a risk assessment are.

pub mod analytics;
pub mod assessment;
pub mod circuit_limits;
pub mod clinic_columns;
pub mod digits;
pub mod eligibility;
pub mod equation;
pub mod equation_intake;
pub mod equation_model;
pub mod feature;
pub mod model;
pub mod model_limit;
pub mod model_ref;
pub mod patient;
pub mod patient_ref;
pub mod population;
pub mod quantize;
pub mod released;
