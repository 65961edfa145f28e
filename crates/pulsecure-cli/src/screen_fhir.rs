//! `pulsecure screen --fhir FILE` / `--fhir-bulk DIR`: the FHIR options resolved once into
//! a read request, and the cvd-lr screening of its patients (direct or through the job
//! queue). Published equations take the request in `screen_equation`.

use pulsecure_app::fhir_screening::FhirRequest;
use pulsecure_app::{DataDir, EvaluatorChoice};
use pulsecure_core::civil_date::{civil_from_days, parse_ymd};
use pulsecure_fhir::map::table;
use pulsecure_fhir::{bulk_source, file_source, ReadOptions, Window};

use crate::batch_sink::CliSink;
use crate::cli::ScreenArgs;
use crate::error::CliError;
use crate::password;

type Result<T> = std::result::Result<T, CliError>;

/// A FHIR input to screen, resolved once from the options.
pub(crate) struct FhirInput {
    /// What to read and how.
    pub request: FhirRequest,
    /// Write `--format fhir` as NDJSON (a bulk export, or an `--out` file ending in
    /// `.ndjson`) rather than a Bundle.
    pub ndjson: bool,
    /// The screening date.
    pub as_of: (i64, i64, i64),
}

/// The FHIR input `args` name, if any.
pub(crate) fn request(args: &ScreenArgs) -> Result<Option<FhirInput>> {
    let (source, bulk) = match (&args.fhir, &args.fhir_bulk) {
        (Some(file), None) => (
            file_source(file).map_err(pulsecure_app::AppError::from)?,
            false,
        ),
        (None, Some(dir)) => {
            let (source, skipped) = bulk_source(dir).map_err(pulsecure_app::AppError::from)?;
            if !skipped.is_empty() {
                // File names of an export are resource types and counters, not patient data.
                eprintln!(
                    "{} file(s) of other resource types skipped (Pulsecure reads Patient, Observation, Condition, MedicationRequest, MedicationStatement): {}",
                    skipped.len(),
                    skipped.join(", ")
                );
            }
            (source, true)
        }
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(CliError::Usage(
                "give --fhir FILE or --fhir-bulk DIR, not both".into(),
            ))
        }
    };
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let today = civil_from_days(secs.div_euclid(86_400));
    let as_of = match args.as_of.as_deref() {
        Some(text) => parse_ymd(text.trim()).ok_or_else(|| {
            CliError::Usage("--as-of: expected a calendar date as YYYY-MM-DD".into())
        })?,
        None => today,
    };
    if as_of > today {
        return Err(CliError::Usage(
            "--as-of is after today: a screening reads what is known on its date".into(),
        ));
    }
    let ndjson = bulk
        || args
            .out
            .as_deref()
            .and_then(|p| p.extension())
            .is_some_and(|e| e == "ndjson");
    let lookback = args.lookback.unwrap_or(table().default_lookback_years);
    Ok(Some(FhirInput {
        request: FhirRequest {
            source,
            options: ReadOptions {
                window: Window::new(as_of, lookback),
                partitions: None,
            },
        },
        ndjson,
        as_of,
    }))
}

/// Screen a FHIR input with cvd-lr: through the evaluator, or submitted to `--queue`.
pub(crate) fn run(
    dir: &DataDir,
    args: &ScreenArgs,
    input: FhirInput,
    evaluator: EvaluatorChoice,
) -> Result<()> {
    let FhirInput {
        request,
        ndjson,
        as_of,
    } = input;
    if let Some(url) = &args.queue {
        let sink = CliSink::create(args)?;
        return crate::queue_cmd::screen_queued(dir, args, url, sink, |station, sink| {
            Ok(station.submit_fhir(request, sink)?)
        });
    }
    let password = password::current(&args.password)?;
    let workstation = password::open_workstation(dir, &password, evaluator)?;
    let mut sink = CliSink::create(args)?;
    let out = sink.fhir_output(ndjson, as_of);
    let mut hook = crate::fhir_output::hook_for(out.as_ref());
    let summary = workstation.screen_fhir(request, &mut *hook, &mut sink)?;
    sink.finish()?;
    crate::batch_sink::report_batch(&summary, args)
}
