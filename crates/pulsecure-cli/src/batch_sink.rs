//! Where a batch's outcomes go (the direct evaluator and the job queue alike): the result
//! writer, the rejected-rows file and the progress bar.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pulsecure_app::screening::{BatchResult, BatchSink, NotEligibleResult, RowStatus};
use pulsecure_batch::RowError;

use crate::cli::{OutputFormat, ScreenArgs};
use crate::error::CliError;
use crate::results::{choose_format, persist, temp_beside, ResultRow, ResultWriter};

type Result<T> = std::result::Result<T, CliError>;

/// Where a batch's outcomes go: the result writer, the rejected-rows file and the terminal.
pub(crate) struct CliSink {
    writer: ResultWriter,
    errors: Option<(tempfile::NamedTempFile, PathBuf)>,
    bar: ProgressBar,
    quiet: bool,
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
