//! Where a batch's outcomes go (the direct evaluator and the job queue alike): the result
//! writer, the rejected-rows file and the progress bar.

use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pulsecure_app::screening::{BatchResult, BatchSink, NotEligibleResult, RowStatus};
use pulsecure_batch_input::RowError;

use crate::cli::{OutputFormat, ScreenArgs};
use crate::error::CliError;
use crate::fhir_output::FhirOut;
use crate::rejected_rows::RejectedRows;
use crate::results::{choose_format, ResultRow, ResultWriter};
use pulsecure_fhir::risk_assessment::AssessmentResult;

type Result<T> = std::result::Result<T, CliError>;

/// Where a batch's outcomes go: the result writer, the rejected-rows file and the terminal.
pub(crate) struct CliSink {
    writer: ResultWriter,
    errors: Option<RejectedRows>,
    bar: ProgressBar,
    /// Whether `bar` counts screenings back from the queue (else the input read).
    waiting_bar: bool,
    quiet: bool,
    /// RiskAssessments instead of rows (`--format fhir`).
    fhir: Option<FhirOut>,
}

impl CliSink {
    /// A sink for `screen --batch` as `args` ask.
    pub(crate) fn create(args: &ScreenArgs) -> Result<Self> {
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
        let errors = errors.map(RejectedRows::create).transpose()?;
        Ok(CliSink {
            writer,
            errors,
            bar: ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()),
            waiting_bar: false,
            quiet,
            fhir: None,
        })
    }

    /// Write RiskAssessments with `out`'s basis when the format is FHIR (one resource per
    /// line when `ndjson`); `None` when the format is another one.
    pub(crate) fn fhir_output(&mut self, ndjson: bool, as_of: (i64, i64, i64)) -> Option<FhirOut> {
        if !self.writer.is_fhir() {
            return None;
        }
        if ndjson {
            self.writer.use_ndjson();
        }
        let out = FhirOut::new(1, as_of);
        self.fhir = Some(out.clone());
        Some(out)
    }

    /// Flush the results and move the rejected-rows file into place.
    pub(crate) fn finish(self) -> Result<()> {
        close_outputs(&self.bar, self.fhir.as_ref(), self.writer, self.errors)
    }
}

/// Close a run's outputs (either sink's): clear the bar, say how many stored-earlier results
/// were not written as new RiskAssessments, flush the results, move the rejected-rows file
/// into place.
pub(crate) fn close_outputs(
    bar: &ProgressBar,
    fhir: Option<&FhirOut>,
    writer: ResultWriter,
    errors: Option<RejectedRows>,
) -> Result<()> {
    bar.finish_and_clear();
    if let Some(fhir) = fhir {
        crate::fhir_output::report_stored_earlier(fhir);
    }
    writer.finish()?;
    if let Some(errors) = errors {
        errors.finish()?;
    }
    Ok(())
}

/// The job queue reports only the selected models' outcomes: cvd-lr here.
impl pulsecure_app::queue_screening::QueueSink for CliSink {
    fn result(&mut self, r: BatchResult<'_>) -> std::io::Result<()> {
        BatchSink::result(self, r)
    }

    fn equation_result(
        &mut self,
        _: pulsecure_app::equation_screening::EquationRowResult<'_>,
    ) -> std::io::Result<()> {
        Err(std::io::Error::other(
            "a published-equation result reached a cvd-lr run",
        ))
    }

    fn not_eligible(&mut self, r: NotEligibleResult<'_>) -> std::io::Result<()> {
        BatchSink::not_eligible(self, r)
    }

    fn rejected(&mut self, e: &RowError) -> std::io::Result<()> {
        BatchSink::rejected(self, e)
    }

    fn start(&mut self, total: u64) {
        BatchSink::start(self, total);
    }

    fn progress(&mut self, position: u64) {
        BatchSink::progress(self, position);
    }

    fn waiting(&mut self, collected: u64, total: u64) {
        if self.quiet || !std::io::stderr().is_terminal() {
            return;
        }
        if !self.waiting_bar {
            // The submission's bar (if any) gives way to the collection's.
            self.bar.finish_and_clear();
            self.waiting_bar = true;
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
        if let Some(fhir) = &self.fhir {
            if r.status == RowStatus::AlreadyStored {
                // Not a new assessment: today's inputs were not screened.
                fhir.stored_earlier(r.patient_ref);
                return Ok(());
            }
            let resource = fhir.resource(
                r.patient_ref,
                &r.assessment.model_id,
                r.assessment.model_version,
                AssessmentResult::Predicted {
                    probability: r.assessment.probability,
                    category: r.assessment.class.as_str(),
                },
            );
            return self
                .writer
                .write_resource(&resource)
                .map_err(std::io::Error::other);
        }
        self.writer
            .write(&ResultRow::new(
                r.patient_ref.as_str(),
                r.status.as_str(),
                r.assessment,
            ))
            .map_err(std::io::Error::other)
    }

    fn not_eligible(&mut self, r: NotEligibleResult<'_>) -> std::io::Result<()> {
        if let Some(fhir) = &self.fhir {
            if r.decision.status == RowStatus::AlreadyStored {
                fhir.stored_earlier(r.patient_ref);
                return Ok(());
            }
            let resource = fhir.resource(
                r.patient_ref,
                r.model_id,
                r.model_version,
                AssessmentResult::NotEligible {
                    reason: &r.decision.text,
                },
            );
            return self
                .writer
                .write_resource(&resource)
                .map_err(std::io::Error::other);
        }
        let status = match r.decision.status {
            RowStatus::Screened => "not_eligible",
            RowStatus::AlreadyStored => "already-stored",
        };
        let mut row = ResultRow::not_eligible(
            r.patient_ref.as_str(),
            r.model_id,
            r.model_version,
            &r.decision.text,
        );
        row.status = status;
        self.writer.write(&row).map_err(std::io::Error::other)
    }

    fn rejected(&mut self, e: &RowError) -> std::io::Result<()> {
        if let Some(fhir) = &self.fhir {
            fhir.forget(e.patient_ref.as_ref());
        }
        let column = e.column.as_deref().unwrap_or("-");
        self.bar
            .suspend(|| eprintln!("row {}, column {column}: {}", e.row, e.reason));
        tracing::warn!(row = e.row, column, "batch row rejected: {}", e.reason);
        if let Some(errors) = &mut self.errors {
            errors.write(e)?;
        }
        Ok(())
    }

    fn progress(&mut self, bytes_read: u64) {
        self.bar.set_position(bytes_read);
    }
}

/// The summary line of a finished batch (file or FHIR) and its exit status.
pub(crate) fn report_batch(
    summary: &pulsecure_app::screening::BatchSummary,
    args: &ScreenArgs,
) -> Result<()> {
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
