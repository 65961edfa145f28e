//! Where a published-equation run's outcomes go (direct evaluator and job queue alike):
//! one row per patient and model (or a RiskAssessment with `--format fhir`), rejected rows
//! to stderr and the `--errors` file, and a progress bar on a terminal.

use std::path::Path;

use indicatif::ProgressBar;
use pulsecure_app::equation_screening::{EquationOutcome, EquationRowResult, EquationSink};
use pulsecure_app::queue_screening::QueueSink;
use pulsecure_app::screening::{BatchResult, NotEligibleResult, RowStatus};
use pulsecure_batch_input::RowError;
use pulsecure_core::domain::assessment::equation_risk_text;
use pulsecure_fhir::risk_assessment::AssessmentResult;
use serde::Serialize;

use crate::cli::{OutputFormat, ScreenArgs};
use crate::error::CliError;
use crate::fhir_output::FhirOut;
use crate::progress::terminal_bar;
use crate::rejected_rows::RejectedRows;
use crate::results::{choose_format, ResultWriter};

type Result<T> = std::result::Result<T, CliError>;

/// Printed after every published-equation run.
pub(crate) const SCREENING_AID: &str = "A screening aid, NOT a diagnosis: 10-year risk from the published equation, computed under encryption.";

/// One output row (a stable interface, listed in `screen --help`).
#[derive(Serialize)]
struct EquationRow<'a> {
    patient_id: &'a str,
    /// `screened`, `already-stored` or `not_eligible` (decided now or stored earlier).
    status: &'static str,
    /// 0-1; empty when not eligible.
    probability: Option<f64>,
    risk_text: String,
    risk_category: String,
    /// Why no estimate was given (not eligible), else empty.
    reason: String,
    model_id: &'a str,
    model_version: u64,
}

const CSV_HEADER: &str =
    "patient_id,status,probability,risk_text,risk_category,reason,model_id,model_version";

fn row<'a>(r: &EquationRowResult<'a>) -> EquationRow<'a> {
    let (status, probability, risk_text, risk_category, reason) = match r.outcome {
        EquationOutcome::Screened {
            assessment,
            category,
            status,
        } => (
            status.as_str(),
            Some(assessment.probability),
            equation_risk_text(assessment.probability),
            category.clone(),
            String::new(),
        ),
        EquationOutcome::NotEligible(decision) => (
            "not_eligible",
            None,
            String::new(),
            String::new(),
            decision.text.clone(),
        ),
    };
    EquationRow {
        patient_id: r.patient_ref.as_str(),
        status,
        probability,
        risk_text,
        risk_category,
        reason,
        model_id: r.model_id,
        model_version: r.model_version,
    }
}

fn table_line(r: &EquationRow<'_>) -> String {
    format!(
        "{:<20} {:<14} {:>8} {:<13} {} v{}{}",
        r.patient_id,
        r.status,
        r.risk_text,
        r.risk_category,
        r.model_id,
        r.model_version,
        if r.reason.is_empty() {
            String::new()
        } else {
            format!("  ({})", r.reason)
        }
    )
}

/// Results to a [`ResultWriter`]; rejected rows to stderr and the `--errors` CSV file;
/// progress (the file read, or screenings back from the queue) on a terminal.
pub(crate) struct EquationCliSink {
    pub(crate) writer: ResultWriter,
    errors: Option<RejectedRows>,
    /// RiskAssessments instead of rows (`--format fhir`).
    pub(crate) fhir: Option<FhirOut>,
    bar: ProgressBar,
    /// Whether `bar` counts screenings back from the queue (else the input read).
    waiting_bar: bool,
    quiet: bool,
}

impl EquationCliSink {
    /// A sink writing results as `format` to `out` (stdout if None) and rejected rows to
    /// `errors`.
    pub(crate) fn with_options(
        format: Option<OutputFormat>,
        out: Option<&Path>,
        errors: Option<&Path>,
        quiet: bool,
    ) -> Result<Self> {
        let writer = ResultWriter::create_with(
            choose_format(format, out),
            out,
            CSV_HEADER,
            &format!(
                "{:<20} {:<14} {:>8} {:<13} model",
                "patient", "status", "risk", "category"
            ),
        )?;
        let errors = errors.map(RejectedRows::create).transpose()?;
        Ok(EquationCliSink {
            writer,
            errors,
            fhir: None,
            bar: ProgressBar::hidden(),
            waiting_bar: false,
            quiet,
        })
    }

    /// A sink for `screen --model …` as `args` ask.
    pub(crate) fn create(args: &ScreenArgs) -> Result<Self> {
        Self::with_options(
            args.format,
            args.out.as_deref(),
            args.errors.as_deref(),
            args.quiet,
        )
    }

    /// Close the outputs (and say how many stored-earlier results were not written as new
    /// RiskAssessments).
    pub(crate) fn finish(self) -> Result<()> {
        crate::batch_sink::close_outputs(&self.bar, self.fhir.as_ref(), self.writer, self.errors)
    }

    fn show_bar(&mut self, total: u64, template: &str) {
        if self.quiet || !self.bar.is_hidden() {
            return;
        }
        self.bar = terminal_bar(template);
        self.bar.set_length(total);
    }
}

impl EquationSink for EquationCliSink {
    fn start(&mut self, total: u64) {
        self.show_bar(
            total,
            "{elapsed_precise} [{bar:30}] {percent}% of the input  ETA {eta}",
        );
    }

    fn progress(&mut self, position: u64) {
        self.bar.set_position(position);
    }

    fn result(&mut self, r: EquationRowResult<'_>) -> std::io::Result<()> {
        if let Some(fhir) = &self.fhir {
            let stored_earlier = match r.outcome {
                EquationOutcome::Screened { status, .. } => *status == RowStatus::AlreadyStored,
                EquationOutcome::NotEligible(decision) => {
                    decision.status == RowStatus::AlreadyStored
                }
            };
            if stored_earlier {
                // Not a new assessment: today's inputs were not screened.
                fhir.stored_earlier(r.patient_ref);
                return Ok(());
            }
            let result = match r.outcome {
                EquationOutcome::Screened {
                    assessment,
                    category,
                    ..
                } => AssessmentResult::Predicted {
                    probability: assessment.probability,
                    category,
                },
                EquationOutcome::NotEligible(decision) => AssessmentResult::NotEligible {
                    reason: &decision.text,
                },
            };
            let resource = fhir.resource(r.patient_ref, r.model_id, r.model_version, result);
            return self
                .writer
                .write_resource(&resource)
                .map_err(std::io::Error::other);
        }
        let row = row(&r);
        self.writer
            .write_serialized(&row, &table_line(&row))
            .map_err(std::io::Error::other)
    }

    fn rejected(&mut self, e: &RowError) -> std::io::Result<()> {
        // The basis stays for the patient's other models (one patient is in flight at a
        // time here; the next one's basis replaces it).
        let column = e.column.as_deref().unwrap_or("-");
        self.bar
            .suspend(|| eprintln!("row {}, column {column}: {}", e.row, e.reason));
        tracing::warn!(row = e.row, column, "batch row rejected: {}", e.reason);
        if let Some(errors) = &mut self.errors {
            errors.write(e)?;
        }
        Ok(())
    }
}

/// The job queue reports only the selected models' outcomes: published equations here.
impl QueueSink for EquationCliSink {
    fn result(&mut self, _: BatchResult<'_>) -> std::io::Result<()> {
        Err(std::io::Error::other(
            "a cvd-lr result reached a published-equation run",
        ))
    }

    fn equation_result(&mut self, r: EquationRowResult<'_>) -> std::io::Result<()> {
        EquationSink::result(self, r)
    }

    fn not_eligible(&mut self, _: NotEligibleResult<'_>) -> std::io::Result<()> {
        Err(std::io::Error::other(
            "a cvd-lr decision reached a published-equation run",
        ))
    }

    fn rejected(&mut self, e: &RowError) -> std::io::Result<()> {
        EquationSink::rejected(self, e)
    }

    fn start(&mut self, total: u64) {
        EquationSink::start(self, total);
    }

    fn progress(&mut self, position: u64) {
        EquationSink::progress(self, position);
    }

    fn waiting(&mut self, collected: u64, total: u64) {
        if !self.waiting_bar {
            // The submission's bar (if any) gives way to the collection's.
            self.bar.finish_and_clear();
            self.bar = ProgressBar::hidden();
            self.waiting_bar = true;
        }
        self.show_bar(
            total,
            "{elapsed_precise} [{bar:30}] {pos}/{len} screenings back from the queue  ETA {eta}",
        );
        self.bar.set_length(total);
        self.bar.set_position(collected);
    }
}
