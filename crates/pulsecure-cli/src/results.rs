//! Screening results as tables, JSON or CSV, to stdout or a file written atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use pulsecure_core::RiskAssessment;
use serde::Serialize;

use crate::cli::OutputFormat;
use crate::error::CliError;

type Result<T> = std::result::Result<T, CliError>;

/// One output row. Field names are a stable interface (documented in `screen --help`).
#[derive(Clone, Debug, Serialize)]
pub struct ResultRow {
    /// Pseudonymous reference.
    pub patient_id: String,
    /// `screened`, `already-stored` or `not_eligible`.
    pub status: &'static str,
    /// Calibrated probability in [0, 1]; empty when not eligible.
    pub probability: Option<f64>,
    /// The same in units of 1/4096.
    pub probability_code: Option<u32>,
    /// How to read it: whole percent, "< 1 %" for the lowest levels (never "0").
    pub risk_text: String,
    /// `low` or `high`; empty when not eligible.
    pub risk_class: &'static str,
    /// Model id.
    pub model_id: String,
    /// Model version.
    pub model_version: u64,
    /// Why no estimate was given (not eligible), else empty.
    pub reason: String,
}

impl ResultRow {
    /// Row for an assessment.
    pub fn new(patient_id: &str, status: &'static str, a: &RiskAssessment) -> Self {
        ResultRow {
            patient_id: patient_id.to_string(),
            status,
            probability: Some(a.probability),
            probability_code: Some(a.probability_code),
            risk_text: a.risk_text(),
            risk_class: a.class.as_str(),
            model_id: a.model_id.clone(),
            model_version: a.model_version,
            reason: String::new(),
        }
    }

    /// Row for a patient outside the model's population: no estimate, the reason.
    pub fn not_eligible(
        patient_id: &str,
        model_id: &str,
        model_version: u64,
        reason: &str,
    ) -> Self {
        ResultRow {
            patient_id: patient_id.to_string(),
            status: "not_eligible",
            probability: None,
            probability_code: None,
            risk_text: String::new(),
            risk_class: "",
            model_id: model_id.to_string(),
            model_version,
            reason: reason.to_string(),
        }
    }
}

/// How to read the class of `model`'s results, printed under a table of them.
pub fn class_note(model: &pulsecure_core::Model) -> &'static str {
    if model.target().is_some_and(|t| t.is_equation_pre_screen()) {
        "A lab-free pre-screen, NOT a diagnosis or a risk estimate: 'high' means flagged: take the labs (total and HDL cholesterol, creatinine) and compute PREVENT (--model prevent)."
    } else {
        "A screening aid tuned for high recall, NOT a diagnosis: 'high' means refer for clinical assessment."
    }
}

/// Pick a format: the flag, else the output file's extension, else a table.
pub fn choose_format(flag: Option<OutputFormat>, out: Option<&Path>) -> OutputFormat {
    if let Some(f) = flag {
        return f;
    }
    match out.and_then(|p| p.extension()).and_then(|e| e.to_str()) {
        Some("json") => OutputFormat::Json,
        Some("ndjson") => OutputFormat::Fhir,
        Some("csv") => OutputFormat::Csv,
        _ => OutputFormat::Table,
    }
}

enum Sink {
    Stdout(std::io::Stdout),
    File {
        tmp: tempfile::NamedTempFile,
        dest: PathBuf,
    },
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Stdout(s) => s.write(buf),
            Sink::File { tmp, .. } => tmp.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Stdout(s) => s.flush(),
            Sink::File { tmp, .. } => tmp.flush(),
        }
    }
}

/// Streams result rows; a file destination is a temporary file renamed into place by
/// [`ResultWriter::finish`], so an interrupted run never leaves a half-written file.
pub struct ResultWriter {
    format: OutputFormat,
    sink: Sink,
    rows: usize,
    /// FHIR output as one resource per line instead of a Bundle.
    ndjson: bool,
}

/// A temporary file beside `dest` with mode 0600.
pub fn temp_beside(dest: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(".pulsecure-")
        .tempfile_in(dir)
        .map_err(|e| CliError::io(format!("creating a temporary file in {}", dir.display()), e))
}

/// fsync and rename a temporary file into place.
pub fn persist(tmp: tempfile::NamedTempFile, dest: &Path) -> Result<()> {
    tmp.as_file()
        .sync_all()
        .map_err(|e| CliError::io(format!("syncing {}", dest.display()), e))?;
    tmp.persist(dest)
        .map_err(|e| CliError::io(format!("renaming into {}", dest.display()), e.error))?;
    Ok(())
}

impl ResultWriter {
    /// Write to `out` (or stdout) in `format`.
    pub fn create(format: OutputFormat, out: Option<&Path>) -> Result<Self> {
        Self::create_with(
            format,
            out,
            "patient_id,status,probability,probability_code,risk_text,risk_class,model_id,model_version,reason",
            &format!(
                "{:<20} {:<15} {:>8} {:>5}  model",
                "patient", "status", "risk", "class"
            ),
        )
    }

    /// Write rows of another shape: `csv_header` names its serialized fields in order,
    /// `table_header` heads the table.
    pub fn create_with(
        format: OutputFormat,
        out: Option<&Path>,
        csv_header: &str,
        table_header: &str,
    ) -> Result<Self> {
        let sink = match out {
            Some(dest) => Sink::File {
                tmp: temp_beside(dest)?,
                dest: dest.to_path_buf(),
            },
            None => Sink::Stdout(std::io::stdout()),
        };
        let mut writer = ResultWriter {
            format,
            sink,
            rows: 0,
            ndjson: false,
        };
        match format {
            // Written with the first resource, once NDJSON or a Bundle is decided.
            OutputFormat::Fhir => {}
            OutputFormat::Json => writer.sink.write_all(b"[")?,
            OutputFormat::Csv => writeln!(writer.sink, "{csv_header}")?,
            OutputFormat::Table => writeln!(writer.sink, "{table_header}")?,
        }
        Ok(writer)
    }

    /// Append one row.
    pub fn write(&mut self, row: &ResultRow) -> Result<()> {
        let line = format!(
            "{:<20} {:<15} {:>8} {:>5}  {} v{}{}",
            row.patient_id,
            row.status,
            row.risk_text,
            row.risk_class,
            row.model_id,
            row.model_version,
            if row.reason.is_empty() {
                String::new()
            } else {
                format!("  ({})", row.reason)
            }
        );
        self.write_serialized(row, &line)
    }

    /// Append one row of any serializable shape; `table_line` is its table form.
    pub fn write_serialized<T: Serialize>(&mut self, row: &T, table_line: &str) -> Result<()> {
        match self.format {
            OutputFormat::Json => {
                if self.rows > 0 {
                    self.sink.write_all(b",")?;
                }
                self.sink.write_all(b"\n  ")?;
                serde_json::to_writer(&mut self.sink, row)?;
            }
            OutputFormat::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(Vec::new());
                w.serialize(row)?;
                let line = w
                    .into_inner()
                    .map_err(|e| CliError::Output(e.to_string()))?;
                self.sink.write_all(&line)?;
            }
            OutputFormat::Table => writeln!(self.sink, "{table_line}")?,
            OutputFormat::Fhir => {
                return Err(CliError::Usage(
                    "--format fhir needs FHIR input (--fhir or --fhir-bulk)".into(),
                ))
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Whether this writer writes FHIR resources.
    pub fn is_fhir(&self) -> bool {
        self.format == OutputFormat::Fhir
    }

    /// Write FHIR output as one resource per line (a bulk export's shape), not a Bundle.
    /// Call before the first resource.
    pub fn use_ndjson(&mut self) {
        self.ndjson = true;
    }

    fn bundle_head(&mut self) -> Result<()> {
        if self.rows == 0 && !self.ndjson {
            self.sink
                .write_all(br#"{"resourceType":"Bundle","type":"collection","entry":["#)?;
        }
        Ok(())
    }

    /// Append one FHIR resource (`--format fhir`).
    pub fn write_resource(&mut self, resource: &serde_json::Value) -> Result<()> {
        self.bundle_head()?;
        if self.ndjson {
            serde_json::to_writer(&mut self.sink, resource)?;
            self.sink.write_all(b"\n")?;
        } else {
            if self.rows > 0 {
                self.sink.write_all(b",")?;
            }
            self.sink.write_all(b"\n  ")?;
            serde_json::to_writer(&mut self.sink, &serde_json::json!({ "resource": resource }))?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Close the document and move a file into place.
    pub fn finish(mut self) -> Result<()> {
        if self.format == OutputFormat::Json {
            self.sink.write_all(b"\n]\n")?;
        }
        if self.format == OutputFormat::Fhir && !self.ndjson {
            self.bundle_head()?;
            self.sink.write_all(b"\n]}\n")?;
        }
        self.sink.flush()?;
        if let Sink::File { tmp, dest } = self.sink {
            persist(tmp, &dest)?;
        }
        Ok(())
    }
}
