//! `pulsecure screen`: one patient or a batch file, each through encryption, the evaluator
//! and decryption, then stored. A batch streams its input in small chunks screened in
//! parallel, reports bad rows without stopping, and resumes after an interruption.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use pulsecure_core::app::inference::{InferenceError, InferenceService, Recorded};
use pulsecure_core::ports::clock::SystemClock;
use pulsecure_core::PatientFeatures;

use crate::cli::{OutputFormat, ScreenArgs};
use crate::embedded::default_model;
use crate::password;
use crate::results::{choose_format, persist, temp_beside, ResultRow, ResultWriter};
use crate::session::{DataDir, Session};
use pulsecure_batch::{self as batch_input, BatchReader, InputRow, Item, RowError};

/// Some rows of a batch were rejected (the others were screened). Maps to exit code 3.
#[derive(Debug)]
pub struct RowsRejected(pub usize);

impl std::fmt::Display for RowsRejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} row(s) were rejected; the other rows were screened",
            self.0
        )
    }
}

impl std::error::Error for RowsRejected {}

/// Run `screen`.
pub fn run(dir: &DataDir, args: &ScreenArgs) -> Result<()> {
    dir.require_initialized()?;
    let model = default_model()?;
    // Validate the input before asking for the password.
    if let Some(path) = &args.batch {
        drop(BatchReader::open(path, &model)?);
        let password = password::current(&args.password)?;
        let session = Session::start(dir, &password)?;
        return run_batch(&session, args, path);
    }
    let named = single_values(args)?;
    PatientFeatures::new(model.features(), &named)?;
    let patient_ref = match &args.patient_ref {
        Some(r) => r.clone(),
        None => generated_ref()?,
    };
    let password = password::current(&args.password)?;
    let session = Session::start(dir, &password)?;
    // The active model may be a newer installed release: validate against it.
    let features = PatientFeatures::new(session.model.features(), &named)?;
    let service = InferenceService::new(&session.model, &session.client, &session.evaluator);
    let recorded = service.screen_and_record(
        &session.db,
        &SystemClock,
        &patient_ref,
        &features,
        &mut |stage| {
            if !args.quiet && std::io::stderr().is_terminal() {
                eprintln!("  {} ...", stage.label());
            }
        },
    )?;
    let Recorded::Stored(screening) = recorded else {
        let duplicate = pulsecure_core::ports::store::StoreError::Duplicate {
            patient_ref: patient_ref.clone(),
        };
        return Err(anyhow::Error::new(duplicate).context(format!(
            "not screened again (model {} v{}); see `pulsecure history`",
            session.model.id(),
            session.model.version()
        )));
    };
    let t = screening.timings;
    tracing::info!(
        evaluate_ms = t.evaluate.as_millis() as u64,
        upload_bytes = screening.upload_bytes,
        "screening stored"
    );
    let format = choose_format(args.format, None);
    let mut writer = ResultWriter::create(format, None)?;
    writer.write(&ResultRow::new(
        &patient_ref,
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
        println!("A screening aid tuned for high recall, NOT a diagnosis: 'high' means refer for clinical assessment.");
    }
    Ok(())
}

fn generated_ref() -> Result<String> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|_| anyhow::anyhow!("the system random source failed"))?;
    Ok(format!(
        "P-{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

/// Values of a single patient from `--value NAME=VALUE` or `--json`.
fn single_values(args: &ScreenArgs) -> Result<BTreeMap<String, f64>> {
    let mut named = BTreeMap::new();
    if let Some(json) = &args.json {
        let text = match json.strip_prefix('@') {
            Some(path) => {
                std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?
            }
            None => json.clone(),
        };
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "--json: not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            )
        })?;
        let serde_json::Value::Object(map) = value else {
            bail!("--json: expected a JSON object with one field per feature");
        };
        for (key, value) in map {
            let number = match value {
                serde_json::Value::Number(n) => n.as_f64(),
                serde_json::Value::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
                _ => None,
            };
            let Some(number) = number else {
                bail!("--json: field `{key}` must be a number (or true/false for yes/no fields)");
            };
            named.insert(key, number);
        }
        return Ok(named);
    }
    if args.values.is_empty() {
        bail!("give the patient's values with --value NAME=VALUE (one per feature), --json, or --batch FILE; see `pulsecure screen --help`");
    }
    for pair in &args.values {
        let Some((name, value)) = pair.split_once('=') else {
            // Not echoed: without a `=`, the argument may be a bare patient value.
            bail!("a --value argument is not NAME=VALUE (e.g. --value age=63)");
        };
        let name = name.trim();
        let value: f64 = value
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("--value {name}: not a number"))?;
        if named.insert(name.to_string(), value).is_some() {
            bail!("--value {name} given twice");
        }
    }
    Ok(named)
}

/// The outcome of one batch row.
enum Outcome {
    Done(ResultRow),
    Failed(RowError),
}

fn screen_row(
    session: &Session,
    service: &InferenceService<'_>,
    row: &InputRow,
) -> Result<Outcome> {
    let recorded = service.screen_and_record(
        &session.db,
        &SystemClock,
        &row.patient_ref,
        &row.features,
        &mut |_| {},
    );
    match recorded {
        Ok(Recorded::Stored(s)) => Ok(Outcome::Done(ResultRow::new(
            &row.patient_ref,
            "screened",
            &s.assessment,
        ))),
        Ok(Recorded::AlreadyStored) => {
            let stored = session
                .db
                .find_screening(
                    session.model.id(),
                    session.model.version(),
                    &row.patient_ref,
                )?
                .context("a stored screening vanished while resuming")?;
            Ok(Outcome::Done(ResultRow::new(
                &row.patient_ref,
                "already-stored",
                &stored.record.assessment,
            )))
        }
        // Another row with this reference won the race: report it as a duplicate row.
        Err(InferenceError::Store(pulsecure_core::ports::store::StoreError::Duplicate {
            ..
        })) => Ok(Outcome::Failed(RowError {
            row: row.row,
            patient_ref: Some(row.patient_ref.clone()),
            column: Some(batch_input::PATIENT_ID.into()),
            reason: "duplicated patient_id".into(),
        })),
        Err(e) => Err(e.into()),
    }
}

fn progress_bar(path: &Path, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new(batch_input::count_rows(path).unwrap_or(0));
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {pos}/{len} patients  {per_sec}  ETA {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

struct ErrorLog {
    file: Option<(tempfile::NamedTempFile, std::path::PathBuf)>,
    count: usize,
}

impl ErrorLog {
    fn create(path: Option<&Path>) -> Result<Self> {
        let file = match path {
            Some(dest) => {
                let mut tmp = temp_beside(dest)?;
                writeln!(tmp, "row,patient_id,column,reason")?;
                Some((tmp, dest.to_path_buf()))
            }
            None => None,
        };
        Ok(ErrorLog { file, count: 0 })
    }

    fn record(&mut self, e: &RowError, bar: &ProgressBar) -> Result<()> {
        self.count += 1;
        let column = e.column.as_deref().unwrap_or("-");
        bar.suspend(|| eprintln!("row {}, column {column}: {}", e.row, e.reason));
        tracing::warn!(row = e.row, column, "batch row rejected: {}", e.reason);
        if let Some((tmp, _)) = &mut self.file {
            let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
            w.write_record([
                e.row.to_string().as_str(),
                e.patient_ref.as_deref().unwrap_or(""),
                e.column.as_deref().unwrap_or(""),
                e.reason.as_str(),
            ])?;
            tmp.write_all(&w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        if let Some((tmp, dest)) = self.file {
            persist(tmp, &dest)?;
        }
        Ok(())
    }
}

fn run_batch(session: &Session, args: &ScreenArgs, path: &Path) -> Result<()> {
    let service = InferenceService::new(&session.model, &session.client, &session.evaluator);
    let format = choose_format(args.format, args.out.as_deref());
    let mut writer = ResultWriter::create(format, args.out.as_deref())?;
    let mut errors = ErrorLog::create(args.errors.as_deref())?;
    let bar = progress_bar(path, args.quiet);
    let mut seen: HashMap<String, usize> = HashMap::new();
    let chunk_size = 2 * rayon::current_num_threads().max(1);
    let mut reader = BatchReader::open(path, &session.model)?;
    let (mut screened, mut resumed) = (0usize, 0usize);
    loop {
        // Read a small chunk: memory stays bounded whatever the file size.
        let mut chunk: Vec<InputRow> = Vec::with_capacity(chunk_size);
        let mut exhausted = false;
        while chunk.len() < chunk_size {
            match reader.next() {
                None => {
                    exhausted = true;
                    break;
                }
                Some(item) => match item? {
                    Item::Rejected(e) => {
                        errors.record(&e, &bar)?;
                        bar.inc(1);
                    }
                    Item::Row(row) => {
                        if let Some(first) = seen.get(&row.patient_ref) {
                            errors.record(
                                &RowError {
                                    row: row.row,
                                    patient_ref: Some(row.patient_ref.clone()),
                                    column: Some(batch_input::PATIENT_ID.into()),
                                    reason: format!("duplicated patient_id (first on row {first})"),
                                },
                                &bar,
                            )?;
                            bar.inc(1);
                        } else {
                            seen.insert(row.patient_ref.clone(), row.row);
                            chunk.push(row);
                        }
                    }
                },
            }
        }
        let outcomes: Vec<Result<Outcome>> = chunk
            .par_iter()
            .map(|row| {
                let outcome = screen_row(session, &service, row);
                bar.inc(1);
                outcome
            })
            .collect();
        for outcome in outcomes {
            match outcome? {
                Outcome::Done(row) => {
                    if row.status == "screened" {
                        screened += 1;
                    } else {
                        resumed += 1;
                    }
                    writer.write(&row)?;
                }
                Outcome::Failed(e) => errors.record(&e, &bar)?,
            }
        }
        if exhausted {
            break;
        }
    }
    bar.finish_and_clear();
    writer.finish()?;
    let rejected = errors.count;
    errors.finish()?;
    eprintln!(
        "{screened} screened, {resumed} already stored (skipped), {rejected} rejected{}",
        match &args.errors {
            Some(p) if rejected > 0 => format!(" (details in {})", p.display()),
            _ => String::new(),
        }
    );
    tracing::info!(screened, resumed, rejected, "batch finished");
    if rejected > 0 {
        return Err(RowsRejected(rejected).into());
    }
    Ok(())
}
