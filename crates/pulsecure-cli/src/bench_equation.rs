//! `pulsecure bench --model ID` for a schema-2 (published-equation) model: key generation,
//! one bootstrapping (for scale: the schema-1 circuit's unit of cost), and single-patient
//! encrypt / evaluate / decrypt on random valid patients of every group, each result checked
//! against the reference engine; the bootstrappings tfhe counted during evaluation (the linear
//! map needs none); request and response bytes; the worst result noise against the proven
//! bound.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::json;

use pulsecure_core::domain::equation::{InputKind, InputValue};
use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::ports::fhe::Evaluator;
use pulsecure_fhe::measure::{counted_pbs, single_pbs};
use pulsecure_fhe::{generate_keys, EquationClient, EquationEvaluator, TfheClient, TfheEvaluator};

use crate::bench_sample::stats;
use crate::cli::BenchArgs;
use crate::error::CliError;
use crate::rng::SplitMix64;
use pulsecure_app::embedded::embedded_model;

type Result<T> = std::result::Result<T, CliError>;

/// A random valid patient: every number uniform in its published range, every choice and
/// yes/no answer uniform.
fn random_patient(model: &EquationModel, rng: &mut SplitMix64) -> BTreeMap<String, InputValue> {
    model
        .equation()
        .inputs
        .iter()
        .map(|input| {
            let value = match &input.kind {
                InputKind::Number { min, max, .. } => {
                    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                    InputValue::Number(min + u * (max - min))
                }
                InputKind::Binary => InputValue::Number(f64::from(rng.up_to(1))),
                InputKind::Choice { levels } => {
                    let k = rng.up_to(levels.len() as u32 - 1) as usize;
                    InputValue::Level(levels[k].clone())
                }
            };
            (input.name.clone(), value)
        })
        .collect()
}

/// Run the benchmark on the schema-2 model `id`.
pub fn run(args: &BenchArgs, id: &str) -> Result<()> {
    // The releases this binary carries, verified with the release keys like any release.
    let releases = pulsecure_signing::embedded::verify_equation_releases()
        .map_err(pulsecure_app::AppError::Integrity)?;
    let model: EquationModel = releases
        .iter()
        .filter_map(|v| v.model.as_equation())
        .find(|m| m.id() == id)
        .cloned()
        .ok_or_else(|| CliError::Input(format!("--model: no published-equation model `{id}`")))?;
    let mut rng = SplitMix64::new(args.seed);
    let progress = |what: &str| {
        if !args.json {
            eprintln!("bench {id}: {what}");
        }
    };

    progress("key generation");
    let t = Instant::now();
    let keys = generate_keys()?;
    let keygen = t.elapsed();
    let t = Instant::now();
    let evaluator = EquationEvaluator::new(&keys.server_key_bytes, &model)?;
    let setup = t.elapsed();
    let client = EquationClient::new(&model, keys.client_key.clone(), keys.key_id)?;

    progress("single bootstrapping (the floor), same key and parameters");
    let floor_model = embedded_model()?;
    let floor_client = TfheClient::new(&floor_model, keys.client_key, keys.key_id)?;
    let floor_evaluator = TfheEvaluator::new(&keys.server_key_bytes, &floor_model)?;
    let pbs = single_pbs(&floor_client, &floor_evaluator, 20);

    progress("single-patient latency");
    let (mut enc, mut eval, mut dec) = (Vec::new(), Vec::new(), Vec::new());
    let (mut checked, mut matched) = (0u32, 0u32);
    let (mut upload, mut download, mut measured_pbs) = (0, 0, 0);
    let mut worst_noise = vec![0u64; evaluator.map().outputs().len()];
    let mut groups = std::collections::BTreeSet::new();
    for _ in 0..args.runs.max(args.exact) {
        let values = random_patient(&model, &mut rng);
        let inputs = model
            .equation()
            .check(&values)
            .map_err(|e| CliError::Input(format!("a generated patient: {e}")))?;
        let reference = model.run(&inputs);
        groups.insert(reference.group);
        let encoded = model.encode(&inputs);
        let t = Instant::now();
        let request = client.encrypt(&encoded)?;
        enc.push(t.elapsed());
        let t = Instant::now();
        let (response, counted) = counted_pbs(|| evaluator.evaluate(&request));
        let response = response?;
        eval.push(t.elapsed());
        measured_pbs = measured_pbs.max(counted);
        let t = Instant::now();
        let (accumulator, noise) = client.decrypt_with_noise(&request, &response)?;
        dec.push(t.elapsed());
        for (worst, n) in worst_noise.iter_mut().zip(noise) {
            *worst = (*worst).max(n);
        }
        upload = request.len();
        download = response.len();
        checked += 1;
        matched +=
            u32::from(i64::try_from(accumulator) == Ok(reference.acc + model.index().offset));
    }

    let map = evaluator.map();
    let log2 = |v: u64| (v.max(1) as f64).log2();
    let outputs: Vec<serde_json::Value> = map
        .outputs()
        .iter()
        .zip(&worst_noise)
        .map(|(o, &worst)| {
            json!({
                "weight_mass_log2": log2(o.weight_mass()),
                "range_log2": log2(o.top()),
                "noise_worst_log2": log2(worst),
                "noise_bound_log2": log2(o.noise_bound()),
            })
        })
        .collect();
    let worst_noise_all = worst_noise.iter().copied().max().unwrap_or(0);
    let (enc_min, enc_med) = stats(&enc);
    let (eval_min, eval_med) = stats(&eval);
    let (dec_min, dec_med) = stats(&dec);
    let (pbs_min, pbs_med) = stats(&pbs);
    let keygen_ms = keygen.as_secs_f64() * 1000.0;
    let doc = json!({
        "model_id": id, "model_version": model.version(),
        "keygen_ms": keygen_ms,
        "evaluator_setup_ms": setup.as_secs_f64() * 1000.0,
        "encrypt_ms": enc_med, "encrypt_ms_min": enc_min,
        "eval_ms": eval_med, "eval_ms_min": eval_min,
        "decrypt_ms": dec_med, "decrypt_ms_min": dec_min,
        "pbs_ms": pbs_med, "pbs_ms_min": pbs_min,
        "eval_over_pbs": eval_med / pbs_med,
        "eval_over_pbs_min": eval_min / pbs_min,
        "pbs_per_eval_counted_by_tfhe": measured_pbs,
        "pbs_depth": 0,
        "slots": map.slots(),
        "outputs": outputs,
        "weight_digit_bits": map.digit_bits(),
        "noise_worst_log2": log2(worst_noise_all),
        "noise_bound_log2": log2(map.noise_bound()),
        "half_step_log2": pulsecure_fhe::equation_lwe::DELTA_BITS - 1,
        "upload_bytes": upload, "download_bytes": download,
        "threads": rayon::current_num_threads(),
        "runs": enc.len(),
        "groups_seen": groups.len(),
        "exact": {"checked": checked, "matched": matched},
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("model       {id} v{}", model.version());
        println!("keygen      {keygen_ms:8.1} ms");
        println!("encrypt     {enc_med:8.3} ms (min {enc_min:.3}), upload {upload} B");
        println!(
            "evaluate    {eval_med:8.3} ms (min {eval_min:.3}), {measured_pbs} PBS counted by tfhe, {} slots",
            map.slots()
        );
        for (j, (o, &worst)) in map.outputs().iter().zip(&worst_noise).enumerate() {
            println!(
                "noise       output {j}/{}: worst 2^{:.1}, proven bound 2^{:.1} (weight mass 2^{:.2}, range 2^{:.2}), decryption exact below 2^{}",
                map.outputs().len(),
                log2(worst),
                log2(o.noise_bound()),
                log2(o.weight_mass()),
                log2(o.top()),
                pulsecure_fhe::equation_lwe::DELTA_BITS - 1
            );
        }
        println!("decrypt     {dec_med:8.3} ms (min {dec_min:.3}), download {download} B");
        println!(
            "one PBS     {pbs_med:8.1} ms (min {pbs_min:.1}); evaluate = {:.4} x PBS (min/min {:.4})",
            eval_med / pbs_med,
            eval_min / pbs_min
        );
        println!(
            "exact       {matched}/{checked} match the reference engine ({} groups)",
            groups.len()
        );
    }
    if matched != checked {
        return Err(CliError::EngineMismatch(
            "encrypted results differed from the reference engine",
        ));
    }
    if measured_pbs != 0 {
        return Err(CliError::EngineMismatch(
            "tfhe counted bootstrappings in a linear evaluation",
        ));
    }
    Ok(())
}
