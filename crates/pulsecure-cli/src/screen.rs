//! `pulsecure screen`: reads one patient (flags or JSON) or names a batch file, hands it to
//! the workstation, and prints or writes the results, the rejected rows and a summary.

use std::io::IsTerminal;
use std::path::Path;

use pulsecure_app::screening::{Ineligible, PatientOutcome, RowStatus};
use pulsecure_app::{AppError, DataDir, EvaluatorChoice, Workstation};
use pulsecure_batch_input::{JsonPatient, RowError};
use pulsecure_core::ports::store::StoreError;
use pulsecure_core::usecase::inference::Recorded;
use pulsecure_core::{GivenField, PatientRef};

use crate::batch_sink::CliSink;
use crate::cli::{OutputFormat, ScreenArgs};
use crate::error::CliError;
use crate::password;
use crate::results::{choose_format, class_note, ResultRow, ResultWriter};

type Result<T> = std::result::Result<T, CliError>;

/// Run `screen`.
pub fn run(dir: &DataDir, args: &ScreenArgs, evaluator: EvaluatorChoice) -> Result<()> {
    dir.require_initialized()?;
    if let Some(selector) = args.model.as_deref().filter(|m| *m != "cvd-lr") {
        return crate::screen_equation::run(dir, args, selector, evaluator);
    }
    if let Some(input) = crate::screen_fhir::request(args)? {
        return crate::screen_fhir::run(dir, args, input, evaluator);
    }
    if choose_format(args.format, args.out.as_deref()) == OutputFormat::Fhir {
        return Err(CliError::Usage(
            "--format fhir writes RiskAssessments for FHIR input: give --fhir FILE or --fhir-bulk DIR".into(),
        ));
    }
    if let (Some(path), Some(queue)) = (&args.batch, &args.queue) {
        return crate::queue_cmd::screen_batch(dir, args, path, queue);
    }
    if let Some(path) = &args.batch {
        let password = password::current(&args.password)?;
        let workstation = password::open_workstation(dir, &password, evaluator)?;
        return run_batch(&workstation, args, path);
    }
    // Parse what can be checked without the password (the values are validated once,
    // against the active model, after unlocking).
    if values_on_command_line(args) {
        eprintln!(
            "warning: patient values or references given as arguments are readable by every \
             user of this machine (ps, /proc/PID/cmdline) while Pulsecure runs, and stay in \
             your shell history. On a shared machine use --json - (stdin) or --json @FILE, \
             with \"patient_id\" inside the JSON."
        );
    }
    let single = single_patient(args)?;
    let json_ref = match &single {
        Single::Json(patient) => patient.patient_ref.clone(),
        Single::Values(_) => None,
    };
    if json_ref.is_some() && args.patient_ref.is_some() {
        return Err(CliError::Input(
            "give the patient reference once: --patient-ref or \"patient_id\" in the JSON".into(),
        ));
    }
    let patient_ref = match json_ref {
        Some(r) => Some(r),
        None => args
            .patient_ref
            .as_deref()
            .map(PatientRef::parse)
            .transpose()
            .map_err(AppError::from)?,
    };
    let password = password::current(&args.password)?;
    let workstation = password::open_workstation(dir, &password, evaluator)?;
    let given = match &single {
        Single::Values(given) => given.clone(),
        Single::Json(patient) => patient
            .model_fields(workstation.model())
            .map_err(|e| crate::single_input::refused(&e))?,
    };
    let show_stages = !args.quiet && std::io::stderr().is_terminal();
    let screened = workstation.screen_values(patient_ref, &given, &mut |stage| {
        if show_stages {
            eprintln!("  {} ...", stage.label());
        }
    });
    let (patient_ref, outcome) = match (screened, &single) {
        // A JSON patient's values refused as a JSON batch row's are.
        (Err(AppError::Patient(e)), Single::Json(_)) => {
            return Err(crate::single_input::refused(&RowError::patient(
                1, None, &e,
            )))
        }
        (screened, _) => screened?,
    };
    let format = choose_format(args.format, None);
    let mut writer = ResultWriter::create(format, None)?;
    let screening = match outcome {
        PatientOutcome::Recorded(Recorded::Stored(screening)) => screening,
        PatientOutcome::Recorded(Recorded::AlreadyStored(_))
        | PatientOutcome::NotEligible(Ineligible {
            status: RowStatus::AlreadyStored,
            ..
        }) => return Err(AppError::Store(StoreError::Duplicate).into()),
        PatientOutcome::NotEligible(Ineligible { text, .. }) => {
            let model = workstation.model();
            writer.write(&ResultRow::not_eligible(
                patient_ref.as_str(),
                model.id(),
                model.version(),
                &text,
            ))?;
            writer.finish()?;
            if format == OutputFormat::Table {
                println!("\nNo estimate: nothing was encrypted or sent; the decision is stored.");
            }
            return Ok(());
        }
    };
    writer.write(&ResultRow::new(
        patient_ref.as_str(),
        "screened",
        &screening.assessment,
    ))?;
    writer.finish()?;
    if format == OutputFormat::Table {
        let t = screening.timings;
        println!(
            "\nencrypt {:.1} ms, evaluate {:.0} ms (server, on ciphertexts), decrypt {:.1} ms; upload {} B, download {} B",
            t.encrypt.as_secs_f64() * 1e3,
            t.evaluate.as_secs_f64() * 1e3,
            t.decrypt.as_secs_f64() * 1e3,
            screening.upload_bytes,
            screening.download_bytes
        );
        println!("{}", class_note(workstation.model()));
    }
    Ok(())
}

/// Whether any patient value or reference was given on the command line, where other users
/// of the machine can read it (`ps`, `/proc/PID/cmdline`) and the shell keeps it.
fn values_on_command_line(args: &ScreenArgs) -> bool {
    !args.values.is_empty()
        || args.patient_ref.is_some()
        || args
            .json
            .as_deref()
            .is_some_and(|j| j != "-" && !j.starts_with('@'))
}

/// The one patient of `screen` without `--batch`.
enum Single {
    /// `--value NAME=VALUE` arguments, numbered in the order given.
    Values(Vec<GivenField>),
    /// `--json`: read by the JSON batch rows' rule, its fields checked against the model
    /// once the vault is unlocked.
    Json(JsonPatient),
}

/// The single patient from `--value NAME=VALUE` or `--json`. Never echoes a value, nor a
/// name (a name may be patient data typed in the wrong place): names are checked against the
/// model after unlocking, and a field is named by its position.
fn single_patient(args: &ScreenArgs) -> Result<Single> {
    let input = |m: &str| CliError::Input(m.to_string());
    if let Some(json) = &args.json {
        return crate::single_input::json_patient(json).map(Single::Json);
    }
    if args.values.is_empty() {
        return Err(input("give the patient's values with --value NAME=VALUE (one per feature), --json, or --batch FILE; see `pulsecure screen --help`"));
    }
    let mut given = Vec::new();
    for (i, pair) in args.values.iter().enumerate() {
        let position = i + 1;
        let Some((name, value)) = pair.split_once('=') else {
            // Not echoed: without a `=`, the argument may be a bare patient value.
            return Err(CliError::Input(format!(
                "--value #{position} is not NAME=VALUE (e.g. --value age=63)"
            )));
        };
        let value: f64 = value
            .trim()
            .parse()
            .map_err(|_| CliError::Input(format!("--value #{position}: not a number")))?;
        given.push(GivenField {
            position,
            name: name.trim().to_string(),
            value,
        });
    }
    Ok(Single::Values(given))
}

fn run_batch(workstation: &Workstation, args: &ScreenArgs, path: &Path) -> Result<()> {
    let mut sink = CliSink::create(args)?;
    let summary = workstation.screen_batch(path, &mut sink)?;
    sink.finish()?;
    crate::batch_sink::report_batch(&summary, args)
}
