//! `pulsecure demo`: the bundled patients screened end to end under encryption.

use std::path::{Path, PathBuf};
use std::time::Instant;

use pulsecure_core::app::inference::InferenceService;
use pulsecure_core::ReferenceEngine;
use pulsecure_fhe::circuit::static_pbs_count;
use pulsecure_fhe::{generate_keys, TfheClient, TfheEvaluator};

use crate::cli::DemoArgs;
use crate::error::CliError;
use pulsecure_app::embedded::embedded_model;

type Result<T> = std::result::Result<T, CliError>;
use crate::examples;

/// Resolve the data directory: the flag / environment value, else the platform default.
pub fn data_dir(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = flag {
        return Ok(dir.to_path_buf());
    }
    directories::ProjectDirs::from("org", "Pulsecure", "pulsecure")
        .map(|d| d.data_dir().to_path_buf())
        .ok_or_else(|| {
            CliError::Input("no home directory: pass --data-dir or set PULSECURE_DATA_DIR".into())
        })
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Run the demo.
pub fn run(args: &DemoArgs) -> Result<()> {
    let model = embedded_model()?;
    let patients = examples::bundled(&model)?;
    let reference = ReferenceEngine::new(&model);
    let pbs = static_pbs_count(&model)?;
    if !args.json {
        println!("Pulsecure demo: a screening aid tuned for high recall, NOT a diagnosis.");
        println!(
            "Model {} v{}; TFHE 2_2 KS-PBS parameters (128-bit security, p_fail <= 2^-128).",
            model.id(),
            model.version()
        );
    }
    let t = Instant::now();
    let keys = generate_keys()?;
    let keygen = t.elapsed();
    let t = Instant::now();
    let evaluator = TfheEvaluator::new(&keys.server_key_bytes, &model)?;
    let evaluator_setup = t.elapsed();
    let server_key_bytes = keys.server_key_bytes.len();
    let client = TfheClient::new(&model, keys.client_key, keys.key_id)?;
    let service = InferenceService::new(&model, &client, &evaluator);
    if !args.json {
        println!(
            "Keys generated in {:.0} ms (compressed server key {:.1} MB); evaluator ready in {:.0} ms.",
            ms(keygen),
            server_key_bytes as f64 / 1e6,
            ms(evaluator_setup)
        );
        println!(
            "Each evaluation: {} bootstrappings ({} contributions, {} accumulation, {} lookup, {} outputs), {} sequential levels.\n",
            pbs.total(), pbs.contributions, pbs.accumulation, pbs.lookup, pbs.outputs, pbs.depth
        );
        println!(
            "{:<8} {:>5} {:>11} {:>9} {:>10} {:>9} {:>9}  reference",
            "patient", "risk", "probability", "encrypt", "evaluate", "decrypt", "upload"
        );
    }
    let mut rows = Vec::new();
    let mut all_match = true;
    for p in &patients {
        let s = service.screen(&p.features, &mut |_| {})?;
        let expected = reference.evaluate(&p.features);
        let matches = expected.probability_code == s.assessment.probability_code
            && expected.high_risk == (s.assessment.class == pulsecure_core::RiskClass::High);
        all_match &= matches;
        if args.json {
            rows.push(serde_json::json!({
                "patient_id": p.id,
                "risk_class": s.assessment.class.as_str(),
                "probability": s.assessment.probability,
                "probability_code": s.assessment.probability_code,
                "encrypt_ms": ms(s.timings.encrypt),
                "evaluate_ms": ms(s.timings.evaluate),
                "decrypt_ms": ms(s.timings.decrypt),
                "upload_bytes": s.upload_bytes,
                "matches_reference": matches,
            }));
        } else {
            println!(
                "{:<8} {:>5} {:>11.3} {:>6.1} ms {:>7.0} ms {:>6.1} ms {:>7} B  {}",
                p.id,
                s.assessment.class.as_str(),
                s.assessment.probability,
                ms(s.timings.encrypt),
                ms(s.timings.evaluate),
                ms(s.timings.decrypt),
                s.upload_bytes,
                if matches { "matches" } else { "MISMATCH" }
            );
        }
    }
    if args.json {
        let doc = serde_json::json!({
            "model_id": model.id(), "model_version": model.version(),
            "keygen_ms": ms(keygen), "server_key_bytes": server_key_bytes,
            "pbs_per_evaluation": pbs.total(), "pbs_depth": pbs.depth,
            "patients": rows,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("\nRisk class 'high' means: refer for clinical assessment. The evaluator saw only ciphertexts.");
    }
    if !all_match {
        return Err(CliError::EngineMismatch(
            "an encrypted result differed from the reference engine",
        ));
    }
    Ok(())
}
