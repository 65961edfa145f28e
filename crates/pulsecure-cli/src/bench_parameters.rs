//! `pulsecure bench --compare-parameters`: tfhe parameter sets on the same circuit and the
//! same inputs, timed alternately in one run (a noisy shared machine then slows them alike).

use std::time::Duration;

use serde_json::json;

use pulsecure_core::{Model, ReferenceEngine};
use pulsecure_fhe::circuit::CircuitPlan;
use pulsecure_fhe::measure::parameter_trials;

use crate::bench_sample::{random_input, stats};
use crate::cli::BenchArgs;
use crate::error::CliError;
use crate::rng::SplitMix64;

/// Single bootstrappings timed per round and set.
const PBS_PER_ROUND: usize = 4;

/// Measure every parameter set; refuses (an engine mismatch) if any output differs from the
/// reference engine.
pub fn compare(
    model: &Model,
    reference: &ReferenceEngine,
    args: &BenchArgs,
    rng: &mut SplitMix64,
) -> Result<serde_json::Value, CliError> {
    let plan = CircuitPlan::compile(model)?;
    let trials = parameter_trials(&plan, args.keygen_runs as usize)?;
    let mut pbs: Vec<Vec<Duration>> = vec![Vec::new(); trials.len()];
    let mut eval: Vec<Vec<Duration>> = vec![Vec::new(); trials.len()];
    let (mut checked, mut matched) = (0u32, 0u32);
    for _ in 0..args.runs {
        let input = random_input(model, rng);
        let expected = reference.evaluate_input(&input);
        let blocks = plan.layout().pack(input.digits())?;
        for (i, trial) in trials.iter().enumerate() {
            pbs[i].extend(trial.time_pbs(PBS_PER_ROUND));
            let (elapsed, probability, high_risk) = trial.evaluate(&blocks)?;
            eval[i].push(elapsed);
            checked += 1;
            matched += u32::from(
                (probability, high_risk) == (expected.probability_code, expected.high_risk),
            );
        }
    }
    if matched != checked {
        return Err(CliError::EngineMismatch(
            "a parameter set's encrypted results differed from the reference engine",
        ));
    }
    let baseline_pbs = stats(&pbs[0]).1;
    let baseline_eval = stats(&eval[0]).1;
    let sets: Vec<serde_json::Value> = trials
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let (keygen_min, keygen_med) = stats(&t.keygen);
            let (pbs_min, pbs_med) = stats(&pbs[i]);
            let (eval_min, eval_med) = stats(&eval[i]);
            json!({
                "parameters": t.name,
                "keygen_ms": keygen_med, "keygen_ms_min": keygen_min,
                "server_key_bytes": t.server_key_bytes,
                "decompress_ms": t.decompress.as_secs_f64() * 1000.0,
                "pbs_ms": pbs_med, "pbs_ms_min": pbs_min,
                "eval_ms": eval_med, "eval_ms_min": eval_min,
                "eval_over_pbs": eval_med / pbs_med,
                "pbs_vs_first": pbs_med / baseline_pbs,
                "eval_vs_first": eval_med / baseline_eval,
            })
        })
        .collect();
    Ok(json!({
        "rounds": args.runs,
        "exact": {"checked": checked, "matched": matched},
        "sets": sets,
    }))
}
