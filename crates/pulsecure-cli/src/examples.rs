//! The example patients bundled with the binary (`examples/patients.csv`).

use crate::error::CliError;

use pulsecure_batch_input::{BatchReader, Item};
use pulsecure_core::{Model, PatientFeatures};

/// The bundled file.
pub const EXAMPLE_PATIENTS_CSV: &str = include_str!("../../../examples/patients.csv");

/// One example: its pseudonymous id and validated features.
pub struct Example {
    /// Pseudonymous reference.
    pub id: String,
    /// Validated values.
    pub features: PatientFeatures,
}

/// Parse and validate the bundled examples against `model` with the same reader as
/// `screen --batch`; any rejected row is an error (the file ships with the binary).
pub fn bundled(model: &Model) -> Result<Vec<Example>, CliError> {
    let reader = BatchReader::from_reader(
        EXAMPLE_PATIENTS_CSV.as_bytes(),
        model,
        "bundled examples".into(),
    )
    .map_err(pulsecure_app::AppError::from)?;
    reader
        .map(|item| match item.map_err(pulsecure_app::AppError::from)? {
            Item::Row(row) => Ok(Example {
                id: row.patient_ref.as_str().to_string(),
                features: row.features,
            }),
            Item::Rejected(e) => Err(CliError::Input(format!(
                "bundled example row {}: {} {}",
                e.row,
                e.column.unwrap_or_default(),
                e.reason
            ))),
            Item::Raw(raw) => Err(CliError::Input(format!(
                "bundled example row {}: not read against the model",
                raw.row
            ))),
            Item::NotEligible(row) => Err(CliError::Input(format!(
                "bundled example row {}: outside the model's population",
                row.row
            ))),
        })
        .collect()
}
