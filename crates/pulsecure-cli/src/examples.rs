//! The example patients bundled with the binary (`examples/patients.csv`).

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};

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

/// Parse and validate the bundled examples against `model` (a plain comma-separated file
/// with a header, written by the project: no quoting).
pub fn bundled(model: &Model) -> Result<Vec<Example>> {
    let mut lines = EXAMPLE_PATIENTS_CSV.lines();
    let header: Vec<&str> = lines
        .next()
        .context("empty example file")?
        .split(',')
        .collect();
    if header.first() != Some(&"patient_id") {
        bail!("example file must start with a patient_id column");
    }
    lines
        .enumerate()
        .map(|(row, line)| {
            let cells: Vec<&str> = line.split(',').collect();
            if cells.len() != header.len() {
                bail!("example row {}: expected {} columns", row + 2, header.len());
            }
            let mut named = BTreeMap::new();
            for (name, cell) in header.iter().zip(&cells).skip(1) {
                let value: f64 = cell.trim().parse().with_context(|| {
                    format!("example row {}: column {name} is not a number", row + 2)
                })?;
                named.insert((*name).to_string(), value);
            }
            let features = PatientFeatures::new(model.features(), &named)
                .with_context(|| format!("example row {}", row + 2))?;
            Ok(Example {
                id: cells[0].to_string(),
                features,
            })
        })
        .collect()
}
