//! `pulsecure demo`: the bundled patients screened end to end under encryption.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use pulsecure_core::usecase::inference::InferenceService;
use pulsecure_core::ReferenceEngine;
use pulsecure_evaluator_client::RemoteEvaluator;
use pulsecure_fhe::circuit::static_pbs_count;
use pulsecure_fhe::{generate_keys, TfheClient};

use crate::cli::DemoArgs;
use crate::error::CliError;
use pulsecure_app::embedded::embedded_model;

type Result<T> = std::result::Result<T, CliError>;
use crate::examples;
use crate::local_evaluator::LocalEvaluator;

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

/// The files in the evaluator's data directory, with sizes (what the evaluator holds).
fn holdings(dir: &Path) -> Vec<(String, u64)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(path),
                Ok(m) => found.push((
                    path.strip_prefix(dir)
                        .unwrap_or(&path)
                        .display()
                        .to_string(),
                    m.len(),
                )),
                Err(_) => {}
            }
        }
    }
    found.sort();
    found
}

/// Run the demo.
pub fn run(args: &DemoArgs) -> Result<()> {
    let model = embedded_model()?;
    let patients = examples::bundled(&model)?;
    let reference = ReferenceEngine::new(&model);
    let pbs = static_pbs_count(&model)?;
    let text = !args.json;
    if text {
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
    let server_key_bytes = keys.server_key_bytes.len();
    let key_id = keys.key_id;
    let server_key = Arc::new(keys.server_key_bytes);
    let equation_key = pulsecure_fhe::client_key_to_bytes(&keys.client_key)?;
    let client = TfheClient::new(&model, keys.client_key, key_id)?;

    // The evaluator: its own process on a private socket, holding the server key only.
    let scratch = tempfile::Builder::new()
        .prefix("pulsecure-demo-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .map_err(|e| CliError::LocalEvaluator(format!("creating a private directory: {e}")))?;
    let t = Instant::now();
    let local = LocalEvaluator::start(scratch.path())?;
    let connection = Arc::new(local.connect()?);
    let started = t.elapsed();
    let t = Instant::now();
    connection
        .put_server_key(Arc::clone(&server_key), &key_id, Arc::new(|_| {}))
        .map_err(|e| CliError::LocalEvaluator(e.to_string()))?;
    let upload = t.elapsed();
    let remote = RemoteEvaluator::new(Arc::clone(&connection), 1);
    let held = holdings(&local.data_dir);
    if text {
        println!(
            "Keys generated in {:.0} ms (compressed server key {:.1} MB).",
            ms(keygen),
            server_key_bytes as f64 / 1e6,
        );
        println!(
            "This process (pid {}) holds the client key. Evaluator: pid {} ({} serve), on {}, \
             started in {:.0} ms; server key uploaded in {:.0} ms.",
            std::process::id(),
            local.pid(),
            local.program,
            local.address(),
            ms(started),
            ms(upload)
        );
        println!("The evaluator's data directory holds only:");
        for (name, size) in &held {
            println!("  {name} ({:.1} MB)", *size as f64 / 1e6);
        }
        println!(
            "Each evaluation: {} bootstrappings ({} contributions, {} accumulation, {} lookup), {} sequential levels.\n",
            pbs.total(), pbs.contributions, pbs.accumulation, pbs.lookup, pbs.depth
        );
        println!(
            "{:<8} {:>5} {:>8} {:>9} {:>10} {:>9} {:>9}  reference",
            "patient", "class", "risk", "encrypt", "evaluate", "decrypt", "upload"
        );
    }
    let service = InferenceService::logistic(&model, &client, &remote);
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
                "risk_text": s.assessment.risk_text(),
                "encrypt_ms": ms(s.timings.encrypt),
                "evaluate_ms": ms(s.timings.evaluate),
                "decrypt_ms": ms(s.timings.decrypt),
                "upload_bytes": s.upload_bytes,
                "matches_reference": matches,
            }));
        } else {
            println!(
                "{:<8} {:>5} {:>8} {:>6.1} ms {:>7.0} ms {:>6.1} ms {:>7} B  {}",
                p.id,
                s.assessment.class.as_str(),
                s.assessment.risk_text(),
                ms(s.timings.encrypt),
                ms(s.timings.evaluate),
                ms(s.timings.decrypt),
                s.upload_bytes,
                if matches { "matches" } else { "MISMATCH" }
            );
        }
    }
    let prevent = prevent_rows(&remote, &equation_key, key_id, text)?;
    all_match &= prevent.iter().all(|r| r["matches_reference"] != false);
    // Close the client side before stopping the evaluator.
    drop(remote);
    drop(connection);
    let evaluator_pid = local.pid();
    let evaluator_program = local.program.clone();
    let exit = local.stop()?;
    if args.json {
        let doc = serde_json::json!({
            "model_id": model.id(), "model_version": model.version(),
            "keygen_ms": ms(keygen), "server_key_bytes": server_key_bytes,
            "pbs_per_evaluation": pbs.total(), "pbs_depth": pbs.depth,
            "client_pid": std::process::id(),
            "evaluator": {
                "pid": evaluator_pid,
                "program": evaluator_program,
                "startup_ms": ms(started),
                "key_upload_ms": ms(upload),
                "holds": held.iter().map(|(n, s)| serde_json::json!({"file": n, "bytes": s})).collect::<Vec<_>>(),
                "exit_code": exit,
            },
            "patients": rows,
            "prevent": prevent,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!(
            "\n{} The evaluator (pid {evaluator_pid}) saw only ciphertexts; it was stopped (exit {}).",
            crate::results::class_note(&model),
            exit.map_or("by signal".to_string(), |c| c.to_string())
        );
    }
    if !all_match {
        return Err(CliError::EngineMismatch(
            "an encrypted result differed from the reference engine",
        ));
    }
    Ok(())
}

/// The PREVENT example patients (`examples/prevent-patients.csv`), both outputs, through the
/// same evaluator process: intake (known CVD is `not_eligible`, nothing encrypted), the
/// encrypted evaluation, and the index checked against `EquationModel::run`.
fn prevent_rows(
    remote: &RemoteEvaluator,
    client_key: &[u8],
    key_id: pulsecure_fhe::ServerKeyId,
    text: bool,
) -> Result<Vec<serde_json::Value>> {
    use pulsecure_batch_input::{BatchReader, Item};
    use pulsecure_core::domain::assessment::equation_risk_text;
    use pulsecure_core::domain::equation_intake::{intake, CholesterolUnits, Intake};
    use pulsecure_core::usecase::inference::EquationService;

    let models: Vec<Arc<pulsecure_core::domain::equation_model::EquationModel>> =
        pulsecure_signing::embedded::verify_equation_releases()
            .map_err(pulsecure_app::AppError::Integrity)?
            .into_iter()
            .filter_map(|v| v.model.as_equation().cloned().map(Arc::new))
            // The PREVENT outputs only: the examples are PREVENT's (the carried PCE release
            // reads race and is for ages 40-79).
            .filter(|m| pulsecure_app::equation_screening::PREVENT_MODELS.contains(&m.id()))
            .collect();
    let spec = pulsecure_app::equation_screening::columns(&models);
    let rows: Vec<pulsecure_batch_input::RawRow> = BatchReader::with_columns(
        PREVENT_EXAMPLES.as_bytes(),
        &spec,
        "PREVENT examples".into(),
    )
    .map_err(pulsecure_app::AppError::from)?
    .filter_map(|item| match item {
        Ok(Item::Raw(raw)) => Some(raw),
        _ => None,
    })
    .collect();
    if text {
        println!(
            "\nPREVENT (AHA 2023, base model): 10-year risk for adults 30-79 without known CVD, same evaluator."
        );
        println!(
            "{:<8} {:<18} {:>8} {:<13} {:>10}  reference",
            "patient", "model", "risk", "category", "evaluate"
        );
    }
    let mut out = Vec::new();
    for model in &models {
        let key = pulsecure_fhe::client_key_from_bytes(client_key)?;
        let client = pulsecure_fhe::EquationClient::new(model, key, key_id)?;
        let service = EquationService::equation(model, &client, remote);
        for raw in &rows {
            let id = raw.patient_ref.as_str();
            let inputs = match intake(model, &raw.values, CholesterolUnits::MgPerDl) {
                Ok(Intake::Eligible(inputs)) => inputs,
                Ok(Intake::NotEligible(why)) => {
                    if text {
                        println!("{id:<8} {:<18} not eligible: {}", model.id(), why.reason());
                    }
                    out.push(serde_json::json!({
                        "patient_id": id, "model_id": model.id(), "status": "not_eligible",
                        "reason": why.reason(),
                    }));
                    continue;
                }
                Err(e) => return Err(CliError::Input(format!("PREVENT example {id}: {e}"))),
            };
            let (s, matches) = match service.screen(&inputs, &mut |_| {}) {
                Ok(s) => {
                    let expected = model.run(&inputs).probability;
                    let ok = s.assessment.probability_code == expected;
                    (Some(s), ok)
                }
                Err(pulsecure_core::usecase::inference::InferenceError::ResultRefused(_)) => {
                    (None, false)
                }
                Err(e) => return Err(pulsecure_app::AppError::from(e).into()),
            };
            let (risk, category, evaluate_ms) = match &s {
                Some(s) => (
                    equation_risk_text(s.assessment.probability),
                    model.output().categories[model.category_of(s.assessment.probability_code)]
                        .name
                        .clone(),
                    ms(s.timings.evaluate),
                ),
                None => ("-".into(), "-".into(), 0.0),
            };
            if text {
                println!(
                    "{id:<8} {:<18} {risk:>8} {category:<13} {evaluate_ms:>7.2} ms  {}",
                    model.id(),
                    if matches { "matches" } else { "MISMATCH" }
                );
            }
            out.push(serde_json::json!({
                "patient_id": id, "model_id": model.id(), "model_version": model.version(),
                "status": "screened",
                "probability": s.as_ref().map(|s| s.assessment.probability),
                "risk_text": risk, "risk_category": category,
                "evaluate_ms": evaluate_ms, "matches_reference": matches,
            }));
        }
    }
    Ok(out)
}

/// The PREVENT example patients (one with known CVD).
const PREVENT_EXAMPLES: &str = include_str!("../../../examples/prevent-patients.csv");
