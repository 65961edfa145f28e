//! `pulsecure screen`: reads one patient (flags or JSON) or names a batch file, hands it to
//! the workstation, and prints or writes the results, the rejected rows and a summary.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pulsecure_app::screening::{
    BatchResult, BatchSink, NotEligibleResult, PatientOutcome, RowStatus,
};
use pulsecure_app::{AppError, DataDir, EvaluatorChoice, Workstation};
use pulsecure_batch::{JsonRow, RowError};
use pulsecure_core::app::inference::Recorded;
use pulsecure_core::ports::store::StoreError;
use pulsecure_core::{GivenField, PatientRef};

use crate::cli::{OutputFormat, ScreenArgs};
use crate::error::CliError;
use crate::password;
use crate::results::{choose_format, class_note, persist, temp_beside, ResultRow, ResultWriter};

type Result<T> = std::result::Result<T, CliError>;

/// Run `screen`.
pub fn run(dir: &DataDir, args: &ScreenArgs, evaluator: EvaluatorChoice) -> Result<()> {
    dir.require_initialized()?;
    if let Some(selector) = args.model.as_deref().filter(|m| *m != "cvd-lr") {
        return crate::screen_equation::run(dir, args, selector, evaluator);
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
    let (named, json_ref) = single_values(args)?;
    if json_ref.is_some() && args.patient_ref.is_some() {
        return Err(CliError::Input(
            "give the patient reference once: --patient-ref or \"patient_id\" in the JSON".into(),
        ));
    }
    let patient_ref = json_ref
        .as_deref()
        .or(args.patient_ref.as_deref())
        .map(PatientRef::parse)
        .transpose()
        .map_err(AppError::from)?;
    let password = password::current(&args.password)?;
    let workstation = password::open_workstation(dir, &password, evaluator)?;
    let show_stages = !args.quiet && std::io::stderr().is_terminal();
    let (patient_ref, outcome) = workstation.screen_values(patient_ref, &named, &mut |stage| {
        if show_stages {
            eprintln!("  {} ...", stage.label());
        }
    })?;
    let format = choose_format(args.format, None);
    let mut writer = ResultWriter::create(format, None)?;
    let screening = match outcome {
        PatientOutcome::Recorded(Recorded::Stored(screening)) => screening,
        PatientOutcome::Recorded(Recorded::AlreadyStored(_))
        | PatientOutcome::NotEligible {
            status: RowStatus::AlreadyStored,
            ..
        } => return Err(AppError::Store(StoreError::Duplicate).into()),
        PatientOutcome::NotEligible { text, .. } => {
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

/// Most bytes read for one patient from stdin or a file (a patient is a few hundred).
const MAX_SINGLE_INPUT: u64 = 64 * 1024;

/// Read one patient's JSON from stdin (`-`) or a file (`@FILE`), or take it inline.
pub(crate) fn json_text(json: &str) -> Result<String> {
    use std::io::Read;
    let mut text = String::new();
    let (what, read) = match json {
        "-" => (
            "reading the patient from stdin".to_string(),
            std::io::stdin()
                .lock()
                .take(MAX_SINGLE_INPUT + 1)
                .read_to_string(&mut text),
        ),
        _ => match json.strip_prefix('@') {
            Some(path) => (
                format!("reading {path}"),
                std::fs::File::open(path)
                    .and_then(|f| f.take(MAX_SINGLE_INPUT + 1).read_to_string(&mut text)),
            ),
            None => return Ok(json.to_string()),
        },
    };
    read.map_err(|e| CliError::io(what, e))?;
    if text.len() as u64 > MAX_SINGLE_INPUT {
        return Err(CliError::Input(format!(
            "--json: one patient is at most {MAX_SINGLE_INPUT} bytes"
        )));
    }
    Ok(text)
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

/// Values of a single patient from `--value NAME=VALUE` or `--json`, numbered in the order
/// given, and the reference if the JSON object carries one. Never echoes a value, nor a name
/// (a name may be patient data typed in the wrong place): names are checked against the model
/// after unlocking, and a field is named by its position.
fn single_values(args: &ScreenArgs) -> Result<(Vec<GivenField>, Option<String>)> {
    let input = |m: &str| CliError::Input(m.to_string());
    let mut given = Vec::new();
    if let Some(json) = &args.json {
        let text = json_text(json)?;
        let value: JsonRow = serde_json::from_str(&text).map_err(|e| {
            CliError::Input(format!(
                "--json: not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let JsonRow::Object(entries) = value else {
            return Err(input(
                "--json: expected a JSON object with one field per feature",
            ));
        };
        let mut patient_ref = None;
        for (i, (key, value)) in entries.into_iter().enumerate() {
            let position = i + 1;
            // The reference: `patient_id` as in batch files and results, or `patient_ref`.
            if key == "patient_id" || key == "patient_ref" {
                let serde_json::Value::String(reference) = value else {
                    return Err(CliError::Input(format!(
                        "--json: field `{key}` must be a string"
                    )));
                };
                if patient_ref.replace(reference).is_some() {
                    return Err(input(
                        "--json: give the reference once (patient_id or patient_ref)",
                    ));
                }
                continue;
            }
            let number = match value {
                serde_json::Value::Number(n) => n.as_f64(),
                serde_json::Value::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
                _ => None,
            };
            let Some(value) = number else {
                return Err(CliError::Input(format!(
                    "--json: field #{position} must be a number (or true/false for yes/no fields)"
                )));
            };
            given.push(GivenField {
                position,
                name: key,
                value,
            });
        }
        return Ok((given, patient_ref));
    }
    if args.values.is_empty() {
        return Err(input("give the patient's values with --value NAME=VALUE (one per feature), --json, or --batch FILE; see `pulsecure screen --help`"));
    }
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
    Ok((given, None))
}

/// Where a batch's outcomes go: the result writer, the rejected-rows file and the terminal.
pub(crate) struct CliSink {
    writer: ResultWriter,
    errors: Option<(tempfile::NamedTempFile, PathBuf)>,
    bar: ProgressBar,
    quiet: bool,
}

impl CliSink {
    fn create(args: &ScreenArgs) -> Result<Self> {
        Self::with_options(
            args.format,
            args.out.as_deref(),
            args.errors.as_deref(),
            args.quiet,
        )
    }

    /// A sink writing results as `format` to `out` (stdout if None) and rejected rows to
    /// `errors`.
    pub(crate) fn with_options(
        format: Option<OutputFormat>,
        out: Option<&Path>,
        errors: Option<&Path>,
        quiet: bool,
    ) -> Result<Self> {
        let format = choose_format(format, out);
        let writer = ResultWriter::create(format, out)?;
        let errors = match errors {
            Some(dest) => {
                let mut tmp = temp_beside(dest)?;
                writeln!(tmp, "row,patient_id,column,reason")?;
                Some((tmp, dest.to_path_buf()))
            }
            None => None,
        };
        Ok(CliSink {
            writer,
            errors,
            bar: ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()),
            quiet,
        })
    }

    /// Flush the results and move the rejected-rows file into place.
    pub(crate) fn finish(self) -> Result<()> {
        self.bar.finish_and_clear();
        self.writer.finish()?;
        if let Some((tmp, dest)) = self.errors {
            persist(tmp, &dest)?;
        }
        Ok(())
    }
}

impl pulsecure_app::queue_screening::QueueSink for CliSink {
    fn result(&mut self, r: BatchResult<'_>) -> std::io::Result<()> {
        BatchSink::result(self, r)
    }

    fn not_eligible(&mut self, r: NotEligibleResult<'_>) -> std::io::Result<()> {
        BatchSink::not_eligible(self, r)
    }

    fn rejected(&mut self, e: &RowError) -> std::io::Result<()> {
        BatchSink::rejected(self, e)
    }

    fn waiting(&mut self, collected: u64, total: u64) {
        if self.quiet || !std::io::stderr().is_terminal() {
            return;
        }
        if self.bar.is_hidden() {
            self.bar = ProgressBar::new(total);
            if let Ok(style) = ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} screenings back from the queue  ETA {eta}",
            ) {
                self.bar.set_style(style.progress_chars("=> "));
            }
        }
        self.bar.set_length(total);
        self.bar.set_position(collected);
    }
}

impl BatchSink for CliSink {
    fn start(&mut self, total_bytes: u64) {
        if self.quiet || !std::io::stderr().is_terminal() {
            return;
        }
        self.bar = ProgressBar::new(total_bytes);
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {percent}% of the file  ETA {eta}",
        ) {
            self.bar.set_style(style.progress_chars("=> "));
        }
    }

    fn result(&mut self, r: BatchResult<'_>) -> std::io::Result<()> {
        self.writer
            .write(&ResultRow::new(
                r.patient_ref.as_str(),
                r.status.as_str(),
                r.assessment,
            ))
            .map_err(std::io::Error::other)
    }

    fn not_eligible(&mut self, r: NotEligibleResult<'_>) -> std::io::Result<()> {
        let status = match r.status {
            RowStatus::Screened => "not_eligible",
            RowStatus::AlreadyStored => "already-stored",
        };
        let mut row =
            ResultRow::not_eligible(r.patient_ref.as_str(), r.model_id, r.model_version, r.text);
        row.status = status;
        self.writer.write(&row).map_err(std::io::Error::other)
    }

    fn rejected(&mut self, e: &RowError) -> std::io::Result<()> {
        let column = e.column.as_deref().unwrap_or("-");
        self.bar
            .suspend(|| eprintln!("row {}, column {column}: {}", e.row, e.reason));
        tracing::warn!(row = e.row, column, "batch row rejected: {}", e.reason);
        if let Some((tmp, _)) = &mut self.errors {
            let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
            w.write_record([
                e.row.to_string().as_str(),
                e.patient_ref.as_ref().map_or("", |r| r.as_str()),
                e.column.as_deref().unwrap_or(""),
                e.reason.as_str(),
            ])?;
            tmp.write_all(&w.into_inner().map_err(|e| e.into_error())?)?;
        }
        Ok(())
    }

    fn progress(&mut self, bytes_read: u64) {
        self.bar.set_position(bytes_read);
    }
}

fn run_batch(workstation: &Workstation, args: &ScreenArgs, path: &Path) -> Result<()> {
    let mut sink = CliSink::create(args)?;
    let summary = workstation.screen_batch(path, &mut sink)?;
    sink.finish()?;
    let (rejected, refused) = (summary.rejected, summary.refused);
    eprintln!(
        "{} screened, {} not eligible (stored as such), {} already stored (skipped), {rejected} rejected, {refused} refused by the result check{}",
        summary.screened,
        summary.not_eligible,
        summary.resumed,
        match &args.errors {
            Some(p) if rejected + refused > 0 => format!(" (details in {})", p.display()),
            _ => String::new(),
        }
    );
    CliError::rows_outcome(rejected, refused)
}
