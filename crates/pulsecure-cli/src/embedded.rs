//! The embedded default model: checked against its recorded SHA-256 before use.

use anyhow::Result;
use sha2::{Digest, Sha256};

use pulsecure_core::embedded_model::{DEFAULT_MODEL_JSON, DEFAULT_MODEL_SHA256};
use pulsecure_core::Model;

use crate::cli::Cli;

/// The embedded model's bytes do not match the hash recorded at build time.
#[derive(Debug)]
pub struct IntegrityError(pub String);

impl std::fmt::Display for IntegrityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "integrity check failed: {}", self.0)
    }
}

impl std::error::Error for IntegrityError {}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Load the embedded model after verifying its hash.
pub fn default_model() -> Result<Model> {
    let actual = sha256_hex(DEFAULT_MODEL_JSON.as_bytes());
    if actual != DEFAULT_MODEL_SHA256 {
        return Err(IntegrityError(format!(
            "embedded model hash {actual} differs from the recorded {DEFAULT_MODEL_SHA256}"
        ))
        .into());
    }
    Ok(Model::from_json(DEFAULT_MODEL_JSON)?)
}

/// `pulsecure info`.
pub fn info(cli: &Cli) -> Result<()> {
    let model = default_model()?;
    let data_dir = crate::demo::data_dir(cli.data_dir.as_deref())?;
    println!("model           {} version {}", model.id(), model.version());
    println!("model sha256    {DEFAULT_MODEL_SHA256}");
    println!(
        "features        {}",
        model
            .features()
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("tfhe parameters 2-bit message, 2-bit carry, KS-PBS, TUniform, 128-bit security, p_fail <= 2^-128");
    println!("data directory  {}", data_dir.display());
    Ok(())
}
