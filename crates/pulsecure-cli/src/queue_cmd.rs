//! `screen --batch FILE --queue URL`, `jobs status` and `jobs collect`: population screening
//! through the PostgreSQL job queue. The use cases are `pulsecure_app::queue_screening`'s;
//! this module parses, prints and sets exit codes.

use std::path::Path;
use std::time::Duration;

use pulsecure_app::equation_screening::{active_equation_model, selected_ids};
use pulsecure_app::fhir_screening::FhirRequest;
use pulsecure_app::queue_screening::{Collection, QueueSink, QueueStation, Submission};
use pulsecure_app::{AppError, DataDir};
use pulsecure_core::domain::equation_intake::CholesterolUnits;
use pulsecure_queue::QueueAddress;

use crate::batch_sink::CliSink;
use crate::cli::{CollectArgs, JobsArgs, ScreenArgs};
use crate::equation_sink::EquationCliSink;
use crate::equation_sink::SCREENING_AID;
use crate::error::CliError;
use crate::password;

type Result<T> = std::result::Result<T, CliError>;

/// How often a waiting client looks at the queue when no notification arrives.
const POLL: Duration = Duration::from_secs(2);

fn station(dir: &DataDir, url: &str, password: &crate::cli::PasswordArgs) -> Result<QueueStation> {
    dir.require_initialized()?;
    // The address is checked before the password is asked for.
    let address = QueueAddress::parse(url).map_err(AppError::from)?;
    let password = password::current(password)?;
    Ok(QueueStation::open(dir, &password, address)?)
}

/// Where a queued run's outcomes go, and what is said once they are in.
pub(crate) trait QueueOutput: QueueSink {
    /// Close the outputs.
    fn close(self) -> Result<()>;
    /// The note printed after results were stored.
    fn note(&self, station: &QueueStation) -> &'static str;
}

impl QueueOutput for CliSink {
    fn close(self) -> Result<()> {
        self.finish()
    }

    fn note(&self, station: &QueueStation) -> &'static str {
        crate::results::class_note(&station.model())
    }
}

impl QueueOutput for EquationCliSink {
    fn close(self) -> Result<()> {
        self.finish()
    }

    fn note(&self, _: &QueueStation) -> &'static str {
        SCREENING_AID
    }
}

/// `screen --batch FILE --queue URL [--detach]` (cvd-lr).
pub fn screen_batch(dir: &DataDir, args: &ScreenArgs, path: &Path, url: &str) -> Result<()> {
    let sink = CliSink::create(args)?;
    screen_queued(dir, args, url, sink, |station, sink| {
        Ok(station.submit_batch(path, sink)?)
    })
}

/// `screen --model ID --queue URL` with `--batch FILE`, `--fhir FILE` or `--fhir-bulk DIR`:
/// published equations through the queue.
pub(crate) fn screen_equations_queued(
    dir: &DataDir,
    args: &ScreenArgs,
    selector: &str,
    url: &str,
    fhir: Option<FhirRequest>,
    units: CholesterolUnits,
) -> Result<()> {
    // Checked before the password is asked for and the queue is reached.
    enum Input<'a> {
        Fhir(FhirRequest),
        Batch(&'a Path),
    }
    let input = match (fhir, &args.batch) {
        (Some(request), _) => Input::Fhir(request),
        (None, Some(path)) => Input::Batch(path),
        (None, None) => {
            return Err(CliError::Usage(
                "--queue screens a --batch FILE, --fhir FILE or --fhir-bulk DIR".into(),
            ))
        }
    };
    let sink = EquationCliSink::create(args)?;
    screen_queued(dir, args, url, sink, |station, sink| {
        select(station, Some(selector))?;
        Ok(match input {
            Input::Fhir(request) => station.submit_equation_fhir(request, sink)?,
            Input::Batch(path) => station.submit_equation_batch(path, units, sink)?,
        })
    })
}

/// Select the models `selector` names (`None` or `cvd-lr`: the active cvd-lr model).
fn select(station: &mut QueueStation, selector: Option<&str>) -> Result<()> {
    match selector {
        None | Some(pulsecure_core::embedded_model::DEFAULT_MODEL_ID) => Ok(()),
        Some(selector) => {
            let models = selected_ids(selector)
                .iter()
                .map(|id| active_equation_model(station.records(), id))
                .collect::<std::result::Result<Vec<_>, AppError>>()?;
            Ok(station.select_equations(&models)?)
        }
    }
}

/// Submit what `submit` reads (a batch file, a FHIR input) to the queue at `url`, then wait
/// for and store the results unless `--detach`.
pub(crate) fn screen_queued<S: QueueOutput>(
    dir: &DataDir,
    args: &ScreenArgs,
    url: &str,
    mut sink: S,
    submit: impl FnOnce(&mut QueueStation, &mut S) -> Result<Submission>,
) -> Result<()> {
    if crate::results::choose_format(args.format, args.out.as_deref())
        == crate::cli::OutputFormat::Fhir
    {
        return Err(CliError::Usage(
            "--format fhir is not written for queued screenings yet; use csv or json (the patient_id is the FHIR Patient id)".into(),
        ));
    }
    let mut station = station(dir, url, &args.password)?;
    let submitted = submit(&mut station, &mut sink)?;
    eprintln!(
        "{} enqueued, {} already in the queue, {} re-enqueued, {} not eligible (stored as such, not queued), {} already stored (skipped), {} rejected",
        submitted.queued,
        submitted.already_queued,
        submitted.resubmitted,
        submitted.not_eligible,
        submitted.already_stored,
        submitted.rejected
    );
    let (mut failed, mut refused) = (0, 0);
    if args.detach {
        eprintln!("detached: `pulsecure jobs status` follows them, `pulsecure jobs collect{}` stores the results",
            match args.model.as_deref() {
                Some(m) if m != pulsecure_core::embedded_model::DEFAULT_MODEL_ID => format!(" --model {m}"),
                _ => String::new(),
            });
    } else {
        let collected = station.collect_until_done(&mut sink, POLL)?;
        report(&collected, sink.note(&station));
        failed = collected.failed;
        refused = collected.refused;
    }
    sink.close()?;
    CliError::rows_outcome(submitted.rejected + failed, refused)
}

fn report(c: &Collection, note: &str) {
    eprintln!(
        "{} screened and stored, {} failed in the queue, {} refused by the result check, {} still pending",
        c.stored, c.failed, c.refused, c.pending
    );
    if c.other_models > 0 {
        eprintln!(
            "{} job(s) of other models wait in the queue: `pulsecure jobs collect --model ID` collects them (`jobs status` counts every job)",
            c.other_models
        );
    }
    if c.stored > 0 {
        eprintln!("{note}");
    }
}

/// `jobs status`.
pub fn status(dir: &DataDir, args: &JobsArgs) -> Result<()> {
    let mut station = station(dir, &args.queue, &args.password)?;
    let s = station.status()?;
    let lost = (s.local as u64).saturating_sub(s.queue.total());
    println!("jobs of this workstation: {}", s.local);
    println!("  queued   {}", s.queue.queued);
    println!("  running  {}", s.queue.running);
    println!("  done     {} (to collect)", s.queue.done);
    println!("  failed   {} (to collect)", s.queue.failed);
    if lost > 0 {
        println!("  missing  {lost} (not in the queue: collect or a rerun enqueues them again)");
    }
    Ok(())
}

/// `jobs collect [--model ID] [--wait]`.
pub fn collect(dir: &DataDir, args: &CollectArgs) -> Result<()> {
    if crate::results::choose_format(args.format, args.out.as_deref())
        == crate::cli::OutputFormat::Fhir
    {
        // Refused before anything is collected: a result stored and then not written would
        // appear in no output.
        return Err(CliError::Usage(
            "--format fhir is not written for queued screenings yet; use csv or json".into(),
        ));
    }
    let mut station = station(dir, &args.queue, &args.password)?;
    select(&mut station, args.model.as_deref())?;
    let out = (
        args.format,
        args.out.as_deref(),
        args.errors.as_deref(),
        args.quiet,
    );
    if station.equation_models().is_empty() {
        collect_into(
            &mut station,
            args.wait,
            CliSink::with_options(out.0, out.1, out.2, out.3)?,
        )
    } else {
        collect_into(
            &mut station,
            args.wait,
            EquationCliSink::with_options(out.0, out.1, out.2, out.3)?,
        )
    }
}

fn collect_into<S: QueueOutput>(station: &mut QueueStation, wait: bool, mut sink: S) -> Result<()> {
    let collected = if wait {
        station.collect_until_done(&mut sink, POLL)?
    } else {
        station.collect(&mut sink)?
    };
    let note = sink.note(station);
    sink.close()?;
    report(&collected, note);
    CliError::rows_outcome(collected.failed, collected.refused)
}
