//! `pulsecure bench`: timings (min / median), sizes, throughput and exactness in one run, so
//! ratios such as evaluation time over one bootstrapping hold on any machine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde_json::json;

use pulsecure_core::ports::fhe::{Evaluator, FheClient};
use pulsecure_core::{Model, QuantizedInput, ReferenceEngine};
use pulsecure_fhe::circuit::static_pbs_count;
use pulsecure_fhe::measure::{counted_pbs, result_switch, single_pbs};
use pulsecure_fhe::{generate_keys, TfheClient, TfheEvaluator};

use crate::cli::BenchArgs;
use crate::error::CliError;
use crate::local_evaluator::LocalEvaluator;
use pulsecure_app::embedded::embedded_model;
use pulsecure_evaluator_client::RemoteEvaluator;

type Result<T> = std::result::Result<T, CliError>;
use crate::bench_sample::{random_input, stats};
use crate::rng::SplitMix64;

/// Run the benchmark.
pub fn run(args: &BenchArgs) -> Result<()> {
    if let Some(dir) = &args.fhir_bulk {
        return crate::bench_fhir::run(dir, args.json);
    }
    if let Some(id) = &args.model {
        return crate::bench_equation::run(args, id);
    }
    let model = embedded_model()?;
    let reference = ReferenceEngine::new(&model);
    let mut rng = SplitMix64::new(args.seed);
    let progress = |what: &str| {
        if !args.json {
            eprintln!("bench: {what}");
        }
    };

    progress("key generation");
    let mut keygen = Vec::new();
    let mut keys = None;
    for _ in 0..args.keygen_runs {
        let t = Instant::now();
        keys = Some(generate_keys()?);
        keygen.push(t.elapsed());
    }
    let keys = keys.ok_or(CliError::Input("--keygen-runs must be at least 1".into()))?;
    let server_key_bytes = keys.server_key_bytes.len();
    let t = Instant::now();
    let evaluator = TfheEvaluator::new(&keys.server_key_bytes, &model)?;
    let setup = t.elapsed();
    let client = TfheClient::new(&model, keys.client_key, keys.key_id)?;

    progress("single bootstrapping (the floor)");
    let pbs = single_pbs(&client, &evaluator, 20);
    progress("result compression (keyswitch + modulus switch of the result block)");
    let switch = result_switch(&client, &evaluator, 20)?;
    progress("bootstrappings on every thread at once (the machine's parallel capacity)");
    let parallel_speedup = parallel_pbs_speedup(&client, &evaluator);

    progress("single-patient latency");
    let (mut enc, mut eval, mut dec) = (Vec::new(), Vec::new(), Vec::new());
    let (mut checked, mut matched) = (0u32, 0u32);
    let mut upload = 0;
    let mut download = 0;
    let mut measured_pbs = 0;
    for _ in 0..args.runs {
        let input = random_input(&model, &mut rng);
        let t = Instant::now();
        let request = client.encrypt(&input)?;
        enc.push(t.elapsed());
        let t = Instant::now();
        let (response, counted) = counted_pbs(|| evaluator.evaluate(&request));
        let response = response?;
        eval.push(t.elapsed());
        measured_pbs = counted;
        let t = Instant::now();
        let result = client.decrypt(&response)?;
        dec.push(t.elapsed());
        upload = request.len();
        download = response.len();
        let expected = reference.evaluate_input(&input);
        checked += 1;
        matched += u32::from(
            (result.probability_code, result.high_risk)
                == (expected.probability_code, expected.high_risk),
        );
    }

    progress("single-thread evaluation");
    let single_thread_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| CliError::Output(format!("building a thread pool: {e}")))?;
    let mut eval_1t = Vec::new();
    for _ in 0..args.runs.min(3) {
        let request = client.encrypt(&random_input(&model, &mut rng))?;
        let t = Instant::now();
        single_thread_pool.install(|| evaluator.evaluate(&request))?;
        eval_1t.push(t.elapsed());
    }

    progress("batch throughput");
    let batch: Vec<QuantizedInput> = (0..args.batch)
        .map(|_| random_input(&model, &mut rng))
        .collect();
    let t = Instant::now();
    let results: Vec<Result<bool>> = batch
        .par_iter()
        .map(|input| {
            let response = evaluator.evaluate(&client.encrypt(input)?)?;
            let r = client.decrypt(&response)?;
            let e = reference.evaluate_input(input);
            Ok((r.probability_code, r.high_risk) == (e.probability_code, e.high_risk))
        })
        .collect();
    let batch_time = t.elapsed();
    for r in results {
        checked += 1;
        matched += u32::from(r?);
    }

    if args.exact > 0 {
        progress("exactness sample");
        let extra: Vec<QuantizedInput> = (0..args.exact)
            .map(|_| random_input(&model, &mut rng))
            .collect();
        let ok: Vec<Result<bool>> = extra
            .par_iter()
            .map(|input| {
                let r = client.decrypt(&evaluator.evaluate(&client.encrypt(input)?)?)?;
                let e = reference.evaluate_input(input);
                Ok((r.probability_code, r.high_risk) == (e.probability_code, e.high_risk))
            })
            .collect();
        for r in ok {
            checked += 1;
            matched += u32::from(r?);
        }
    }

    progress("through the evaluator service (a local process on a Unix socket)");
    let service = through_service(
        &model,
        &reference,
        &client,
        &evaluator,
        &keys.server_key_bytes,
        keys.key_id,
        args,
        &mut rng,
    )?;
    checked += service.checked;
    matched += service.matched;

    let parameter_sets = if args.compare_parameters {
        progress("parameter sets compared on the same circuit");
        Some(crate::bench_parameters::compare(
            &model, &reference, args, &mut rng,
        )?)
    } else {
        None
    };

    let count = static_pbs_count(&model)?;
    let (keygen_min, keygen_med) = stats(&keygen);
    let (enc_min, enc_med) = stats(&enc);
    let (eval_min, eval_med) = stats(&eval);
    let (dec_min, dec_med) = stats(&dec);
    let (pbs_min, pbs_med) = stats(&pbs);
    let (switch_min, switch_med) = stats(&switch);
    let (eval_1t_min, eval_1t_med) = stats(&eval_1t);
    let threads = rayon::current_num_threads();
    let batch_rate = f64::from(args.batch) / batch_time.as_secs_f64();
    // Ideal scaling: every core busy with single-threaded evaluations.
    let ideal_rate = threads as f64 / (eval_1t_med / 1000.0);
    let doc = json!({
        "keygen_ms": keygen_med, "keygen_ms_min": keygen_min,
        "evaluator_setup_ms": setup.as_secs_f64() * 1000.0,
        "encrypt_ms": enc_med, "encrypt_ms_min": enc_min,
        "eval_ms": eval_med, "eval_ms_min": eval_min,
        "decrypt_ms": dec_med, "decrypt_ms_min": dec_min,
        "pbs_ms": pbs_med, "pbs_ms_min": pbs_min,
        "result_switch_ms": switch_med, "result_switch_ms_min": switch_min,
        "result_switch_over_eval": switch_med / eval_med,
        "eval_1thread_ms": eval_1t_med, "eval_1thread_ms_min": eval_1t_min,
        "eval_over_pbs": eval_med / pbs_med,
        "eval_over_pbs_min": eval_min / pbs_min,
        "pbs_per_eval": count.total(),
        "pbs_per_eval_counted_by_tfhe": measured_pbs,
        "pbs_depth": count.depth,
        "pbs_by_stage": {"contributions": count.contributions, "accumulation": count.accumulation,
                          "lookup": count.lookup},
        "levels_by_stage": {"contributions": count.contribution_levels,
                            "accumulation": count.accumulation_levels,
                            "lookup": count.lookup_levels},
        "parameter_sets": parameter_sets,
        "upload_bytes": upload, "download_bytes": download,
        "server_key_bytes": server_key_bytes,
        "batch_patients": args.batch,
        "batch_patients_per_s": batch_rate,
        "batch_over_ideal": batch_rate / ideal_rate,
        "pbs_parallel_speedup": parallel_speedup,
        "batch_over_machine": batch_rate / (ideal_rate * parallel_speedup / threads as f64),
        "threads": threads,
        "service": service.to_json(ideal_rate),
        "runs": args.runs,
        "exact": {"checked": checked, "matched": matched},
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("keygen      {keygen_med:8.1} ms (min {keygen_min:.1})");
        println!("encrypt     {enc_med:8.1} ms (min {enc_min:.1}), upload {upload} B");
        println!(
            "evaluate    {eval_med:8.1} ms (min {eval_min:.1}), {} PBS, depth {}",
            count.total(),
            count.depth
        );
        println!("decrypt     {dec_med:8.1} ms (min {dec_min:.1}), download {download} B");
        println!(
            "compress    {switch_med:8.2} ms (min {switch_min:.2}) per result, {:.2} % of an evaluation",
            100.0 * switch_med / eval_med
        );
        println!(
            "one PBS     {pbs_med:8.1} ms (min {pbs_min:.1}); evaluate = {:.1} x PBS",
            eval_med / pbs_med
        );
        println!("server key  {server_key_bytes} B (compressed)");
        println!("1 thread    {eval_1t_med:8.1} ms per evaluation (min {eval_1t_min:.1})");
        println!(
            "batch       {batch_rate:.2} patients/s on {threads} threads ({:.2} of ideal scaling; {threads} bootstrapping streams run {parallel_speedup:.2}x one)",
            batch_rate / ideal_rate
        );
        service.print(ideal_rate);
        if let Some(sets) = &parameter_sets {
            println!("parameters  {}", serde_json::to_string_pretty(sets)?);
        }
        println!("exact       {matched}/{checked} match the reference engine");
    }
    if matched != checked {
        return Err(CliError::EngineMismatch(
            "encrypted results differed from the reference engine",
        ));
    }
    if measured_pbs != count.total() as u64 {
        return Err(CliError::EngineMismatch(
            "tfhe counted another number of bootstrappings than the schedule",
        ));
    }
    Ok(())
}

/// How many single-thread bootstrapping streams the machine runs at once: `threads` times
/// the time of one stream of PBS alone, over the time of `threads` such streams side by side.
/// Below `threads` when cores share a physical core or memory bandwidth; batch throughput can
/// approach `parallel_speedup / single-thread time` at best.
fn parallel_pbs_speedup(client: &TfheClient, evaluator: &TfheEvaluator) -> f64 {
    const STREAM: usize = 12;
    let threads = rayon::current_num_threads();
    let mut ratios = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        single_pbs(client, evaluator, STREAM);
        let alone = t.elapsed();
        let t = Instant::now();
        (0..threads).into_par_iter().for_each(|_| {
            single_pbs(client, evaluator, STREAM);
        });
        let together = t.elapsed();
        ratios.push(threads as f64 * alone.as_secs_f64() / together.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

/// Measurements through the evaluator service, interleaved with the in-process engine.
struct ServiceFigures {
    key_upload: Duration,
    in_process: Vec<Duration>,
    unix: Vec<Duration>,
    batch_rate: f64,
    in_flight: usize,
    checked: u32,
    matched: u32,
}

impl ServiceFigures {
    fn to_json(&self, ideal_rate: f64) -> serde_json::Value {
        let (unix_min, unix_med) = stats(&self.unix);
        let (local_min, local_med) = stats(&self.in_process);
        json!({
            "transport": "unix",
            "key_upload_ms": self.key_upload.as_secs_f64() * 1000.0,
            "eval_ms": unix_med, "eval_ms_min": unix_min,
            "in_process_eval_ms": local_med, "in_process_eval_ms_min": local_min,
            "added_ms": unix_med - local_med,
            "in_flight": self.in_flight,
            "batch_patients_per_s": self.batch_rate,
            "batch_over_ideal": self.batch_rate / ideal_rate,
        })
    }

    fn print(&self, ideal_rate: f64) {
        let (unix_min, unix_med) = stats(&self.unix);
        let (_, local_med) = stats(&self.in_process);
        println!(
            "service     {unix_med:8.1} ms (min {unix_min:.1}) per evaluation over a Unix socket, {:+.1} ms vs in-process in the same run; key upload {:.0} ms",
            unix_med - local_med,
            self.key_upload.as_secs_f64() * 1000.0
        );
        println!(
            "            batch {:.2} patients/s with {} in flight ({:.2} of ideal scaling)",
            self.batch_rate,
            self.in_flight,
            self.batch_rate / ideal_rate
        );
    }
}

/// Start a local evaluator process, upload the key, then measure single evaluations
/// (alternating with the in-process engine) and a batch through it.
#[allow(clippy::too_many_arguments)]
fn through_service(
    model: &Model,
    reference: &ReferenceEngine,
    client: &TfheClient,
    evaluator: &TfheEvaluator,
    server_key: &[u8],
    key_id: pulsecure_fhe::ServerKeyId,
    args: &BenchArgs,
    rng: &mut SplitMix64,
) -> Result<ServiceFigures> {
    let scratch = tempfile::Builder::new()
        .prefix("pulsecure-bench-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .map_err(|e| CliError::LocalEvaluator(format!("creating a private directory: {e}")))?;
    let local = LocalEvaluator::start(scratch.path())?;
    let connection = Arc::new(local.connect()?);
    let t = Instant::now();
    connection
        .put_server_key(Arc::new(server_key.to_vec()), &key_id, Arc::new(|_| {}))
        .map_err(|e| CliError::LocalEvaluator(e.to_string()))?;
    let key_upload = t.elapsed();
    let threads = rayon::current_num_threads();
    let in_flight = 2 * threads;
    let remote = RemoteEvaluator::new(Arc::clone(&connection), in_flight);
    let same = |input: &QuantizedInput, response: &[u8]| -> Result<bool> {
        let r = client.decrypt(response)?;
        let e = reference.evaluate_input(input);
        Ok((r.probability_code, r.high_risk) == (e.probability_code, e.high_risk))
    };
    // Warm-up: the evaluator decompresses the key at its first evaluation.
    let input = random_input(model, rng);
    remote.evaluate(&client.encrypt(&input)?)?;
    let (mut in_process, mut unix) = (Vec::new(), Vec::new());
    let (mut checked, mut matched) = (0u32, 0u32);
    for _ in 0..args.runs {
        let input = random_input(model, rng);
        let request = client.encrypt(&input)?;
        let t = Instant::now();
        let response = evaluator.evaluate(&request)?;
        in_process.push(t.elapsed());
        checked += 1;
        matched += u32::from(same(&input, &response)?);
        let t = Instant::now();
        let response = remote.evaluate(&request)?;
        unix.push(t.elapsed());
        checked += 1;
        matched += u32::from(same(&input, &response)?);
    }
    let batch: Vec<QuantizedInput> = (0..args.batch).map(|_| random_input(model, rng)).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(in_flight)
        .build()
        .map_err(|e| CliError::Output(format!("building a thread pool: {e}")))?;
    let t = Instant::now();
    let results: Vec<Result<bool>> = pool.install(|| {
        batch
            .par_iter()
            .map(|input| same(input, &remote.evaluate(&client.encrypt(input)?)?))
            .collect()
    });
    let batch_rate = f64::from(args.batch) / t.elapsed().as_secs_f64();
    for r in results {
        checked += 1;
        matched += u32::from(r?);
    }
    drop(remote);
    drop(connection);
    local.stop()?;
    Ok(ServiceFigures {
        key_upload,
        in_process,
        unix,
        batch_rate,
        in_flight,
        checked,
        matched,
    })
}
