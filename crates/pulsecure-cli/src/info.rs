//! `pulsecure info` and the model-derived part of `screen --help`.

use std::path::Path;

use pulsecure_app::embedded::embedded_model;
use pulsecure_core::embedded_model::{DEFAULT_MODEL_JSON, DEFAULT_MODEL_SHA256};
use pulsecure_core::Model;

use crate::error::CliError;

/// `pulsecure info`.
pub fn info(data_dir: &Path) -> Result<(), CliError> {
    let model = embedded_model()?;
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
    println!("network         {}", network_interfaces());
    Ok(())
}

/// The network interfaces this process can see (its network namespace), so a deployment
/// can check its air gap from inside: `lo` alone means no way out. Pulsecure itself never
/// opens a socket either way.
fn network_interfaces() -> String {
    // /proc/self/net/dev belongs to this process's network namespace (sysfs may not).
    let Ok(table) = std::fs::read_to_string("/proc/self/net/dev") else {
        return "unknown (/proc/self/net/dev not readable)".into();
    };
    let mut names: Vec<String> = table
        .lines()
        .skip(2)
        .filter_map(|line| {
            line.split_once(':')
                .map(|(name, _)| name.trim().to_string())
        })
        .collect();
    names.sort();
    let only_loopback = names.iter().all(|n| n == "lo");
    format!(
        "{}{}",
        names.join(", "),
        if only_loopback {
            " (loopback only: air-gapped)"
        } else {
            ""
        }
    )
}

/// `screen --help` text: the embedded model's input fields with units and ranges, and the
/// output fields. Built from the model so it cannot drift from it; only when help is shown
/// (parsing, not verifying: help text decides nothing).
pub fn screen_help() -> String {
    let mut text = String::new();
    match Model::from_json(DEFAULT_MODEL_JSON) {
        Ok(model) => {
            text.push_str(&format!(
                "Input columns / fields (model {} v{}), by feature name:\n",
                model.id(),
                model.version()
            ));
            if let Some(p) = model.population().filter(|p| p.excludes_known_cvd()) {
                text.push_str(&format!(
                    "  {:<24}0 (no) or 1 (yes): known cardiovascular disease (CHD, angina, heart \
                     attack, stroke or heart failure); 1, or an age outside {}-{}, gives \
                     not_eligible (nothing is encrypted or sent; the decision is stored)\n",
                    "known_cvd", p.age_min, p.age_max
                ));
            }
            for f in model.features() {
                text.push_str(&format!(
                    "  {:<24}{}: {}\n",
                    f.name,
                    f.allowed_range(),
                    f.description
                ));
            }
            if let Some(rule) = model.target().and_then(|t| t.label_rule()) {
                text.push_str(&format!(
                    "The model answers: {rule}? (a lab-free pre-screen: high = flagged, take the \
                     labs and compute PREVENT)\n"
                ));
            }
        }
        Err(e) => text.push_str(&format!("(embedded model unavailable: {e})\n")),
    }
    text.push_str(
        "A batch file also needs a patient_id column (a pseudonym; never a name). CSV: \
         comma-separated with a header row. JSON: an array of objects or one object per line \
         (JSON Lines). Example: examples/patients.csv.\n\n\
         Output fields (CSV columns / JSON keys, stable): patient_id, status (screened | \
         already-stored | not_eligible), probability (0-1: the calibrated table level; empty \
         when not eligible), probability_code (units of 1/4096), risk_text (how to read it: \
         whole percent, \"< 1 %\" for the lowest levels, never 0), risk_class (low | high), \
         model_id, model_version, reason (why not eligible, else empty).\n\n\
         A screening aid tuned for high recall, NOT a diagnosis.",
    );
    text
}
