//! Streaming reader of patient batches (CSV with a header, JSON Lines, or a JSON array):
//! yields one validated patient or one specific error per row, never loading the whole
//! input (except a JSON array, capped in size).
//!
//! A crate of its own, with no heavy dependency, so that the parser facing files from outside
//! can be fuzzed (`fuzz/fuzz_targets/batch_reader.rs`) and reused by every front end.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use std::collections::BTreeMap;

use pulsecure_core::domain::eligibility::NotEligible;
use pulsecure_core::domain::equation::InputValue;
use pulsecure_core::domain::population::{intake_schema1, Screenable};
use pulsecure_core::{GivenField, Model, PatientError, PatientFeatures, PatientRef};
use thiserror::Error;

mod json_object;
mod json_patient;

pub use json_object::JsonRow;
pub use json_patient::{JsonField, JsonPatient, JsonValue, PATIENT_REF_ALIAS};

/// A problem with the input as a whole (its header, its shape, reading it): nothing of it
/// can be screened. Problems of single rows are [`RowError`]s instead. Messages name the
/// input and what was expected, never a cell's value.
#[derive(Debug, Error)]
pub enum BatchError {
    /// The input could not be read.
    #[error("reading {name}: {source}")]
    Io {
        /// File name or other label of the input.
        name: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The input's header or shape is not a batch this model can read.
    #[error("{name}: {reason}")]
    Invalid {
        /// File name or other label of the input.
        name: String,
        /// What is wrong and what was expected.
        reason: String,
    },
}

/// Results of this crate.
pub type Result<T, E = BatchError> = std::result::Result<T, E>;

/// Longest accepted line; longer lines are rejected (and skipped) without being buffered.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Largest JSON array file read at once (use JSON Lines beyond).
pub const MAX_JSON_ARRAY_BYTES: u64 = 64 * 1024 * 1024;
/// The batch column holding the pseudonymous reference.
pub const PATIENT_ID: &str = "patient_id";

/// A row that validated.
pub struct InputRow {
    /// 1-based row number (the line number for CSV and JSON Lines, the element number for
    /// a JSON array).
    pub row: usize,
    /// Pseudonymous reference.
    pub patient_ref: PatientRef,
    /// Validated values.
    pub features: PatientFeatures,
}

/// A row outside the model's population (known CVD, or an age outside its range): no
/// estimate, nothing encrypted; the decision is stored as such.
pub struct IneligibleRow {
    /// 1-based row number.
    pub row: usize,
    /// Pseudonymous reference.
    pub patient_ref: PatientRef,
    /// Why.
    pub why: NotEligible,
}

/// A row that did not. Never contains the offending value itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// 1-based row number.
    pub row: usize,
    /// The row's patient reference, when it could be read.
    pub patient_ref: Option<PatientRef>,
    /// The column / field at fault, when there is one.
    pub column: Option<String>,
    /// What was expected.
    pub reason: String,
}

impl RowError {
    /// A row refused for `e`: the column is the model's feature name, or `#N` for a field
    /// the model does not know (its name is never shown: it may be patient data).
    pub fn patient(row: usize, patient_ref: Option<PatientRef>, e: &PatientError) -> Self {
        RowError {
            row,
            patient_ref,
            column: e
                .field()
                .map(str::to_string)
                .or_else(|| e.position().map(|p| format!("#{p}"))),
            reason: e.to_string(),
        }
    }
}

/// A row read against a [`ColumnSpec`]: its values as given (numbers, or text for a
/// level such as `female`), to be checked by the model's intake, not here.
pub struct RawRow {
    /// 1-based row number.
    pub row: usize,
    /// Pseudonymous reference.
    pub patient_ref: PatientRef,
    /// Every non-empty value, by column name.
    pub values: BTreeMap<String, InputValue>,
}

/// The columns of a batch that is not read against a schema-1 model (a published
/// equation's inputs as clinics hold them): which names are accepted and which must be
/// present (each entry: one of these names, e.g. `egfr` or `serum_creatinine`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnSpec {
    /// Every accepted column besides `patient_id`, in the order messages list them.
    pub accepted: Vec<String>,
    /// Alternatives of which at least one column must be present.
    pub required: Vec<Vec<String>>,
}

/// One item of a batch.
pub enum Item {
    /// A patient to screen.
    Row(InputRow),
    /// A row of a batch read against a [`ColumnSpec`].
    Raw(RawRow),
    /// A row outside the model's population.
    NotEligible(IneligibleRow),
    /// A rejected row.
    Rejected(RowError),
}

/// Read one line of at most `MAX_LINE_BYTES` into `buf` (without the newline). Returns
/// `None` at end of file, `Some(false)` for an over-long line (consumed and dropped).
fn read_bounded_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<bool>> {
    read_line_within(reader, buf, MAX_LINE_BYTES)
}

/// Read one line of at most `max` bytes into `buf` (without the newline and a trailing
/// `\r`), never buffering more: `None` at end of input, `Some(false)` for a longer line
/// (consumed and dropped, `buf` left empty), `Some(true)` otherwise. Shared with the other
/// line-oriented readers of files from outside (FHIR NDJSON).
pub fn read_line_within(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut too_long = false;
    let mut saw_any = false;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(if saw_any { Some(!too_long) } else { None });
        }
        saw_any = true;
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let data = &chunk[..if done { take - 1 } else { take }];
        if !too_long {
            if buf.len() + data.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(data);
            }
        }
        reader.consume(take);
        if done {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(Some(!too_long));
        }
    }
}

fn check_ref(row: usize, value: &str) -> Result<PatientRef, RowError> {
    PatientRef::parse(value).map_err(|reason| RowError {
        row,
        patient_ref: None,
        column: Some(PATIENT_ID.into()),
        reason: reason.to_string(),
    })
}

/// One patient's values (from any source: a batch row, a FHIR record) checked against a
/// schema-1 model and its population rule: a row to screen, a not-eligible decision or a
/// rejection naming the field.
pub fn validate(model: &Model, row: usize, patient_ref: PatientRef, given: &[GivenField]) -> Item {
    match intake_schema1(model.features(), model.population(), given) {
        Ok(Screenable::Eligible(features)) => Item::Row(InputRow {
            row,
            patient_ref,
            features,
        }),
        Ok(Screenable::NotEligible(why)) => Item::NotEligible(IneligibleRow {
            row,
            patient_ref,
            why,
        }),
        Err(e) => Item::Rejected(RowError::patient(row, Some(patient_ref), &e)),
    }
}

/// The columns a schema-1 model reads besides `patient_id`: its features, then the fields
/// of its population rule (`known_cvd`).
pub(crate) fn model_columns(model: &Model) -> Vec<&str> {
    model
        .features()
        .iter()
        .map(|f| f.name.as_str())
        .chain(
            model
                .population()
                .map_or(&[][..], |p| p.extra_fields())
                .iter()
                .copied(),
        )
        .collect()
}

/// What a batch's rows are read against.
#[derive(Clone, Copy)]
enum Schema<'m> {
    /// A schema-1 model: each row validated into [`PatientFeatures`].
    Model(&'m Model),
    /// Named columns: each row's values as given ([`RawRow`]).
    Columns(&'m ColumnSpec),
}

impl Schema<'_> {
    /// The accepted columns besides `patient_id`.
    fn names(&self) -> Vec<&str> {
        match self {
            Schema::Model(m) => model_columns(m),
            Schema::Columns(c) => c.accepted.iter().map(String::as_str).collect(),
        }
    }
}

fn expected_columns(schema: Schema<'_>) -> String {
    std::iter::once(PATIENT_ID)
        .chain(schema.names())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The row of a column-read batch: numbers, or text (a level); the reference is checked.
fn raw_item(row: usize, patient_ref: PatientRef, cells: Vec<(String, InputValue)>) -> Item {
    Item::Raw(RawRow {
        row,
        patient_ref,
        values: cells.into_iter().collect(),
    })
}

enum Format {
    Csv { header: Vec<String> },
    JsonLines,
    JsonArray { items: std::vec::IntoIter<JsonRow> },
}

/// A batch being read.
pub struct BatchReader<'m, R: Read = File> {
    schema: Schema<'m>,
    name: String,
    reader: BufReader<R>,
    format: Format,
    line_no: usize,
    buf: Vec<u8>,
}

/// Count the data rows (for the progress bar): lines after the header for CSV, non-blank
/// lines for JSON Lines. Reads the file once more, streaming.
pub fn count_rows(path: &Path) -> std::io::Result<u64> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut buf = Vec::new();
    let mut lines = 0u64;
    let mut first: Option<u8> = None;
    while read_bounded_line(&mut reader, &mut buf)?.is_some() {
        if first.is_none() {
            first = buf.iter().copied().find(|b| !b.is_ascii_whitespace());
        }
        if !buf.iter().all(u8::is_ascii_whitespace) {
            lines += 1;
        }
    }
    Ok(match first {
        Some(b'{') => lines,
        _ => lines.saturating_sub(1),
    })
}

impl<'m> BatchReader<'m, File> {
    /// Open `path` and check its header (CSV) or its shape (JSON). File-level problems
    /// (unknown or missing columns, wrong delimiter, not UTF-8) are errors here.
    pub fn open(path: &Path, model: &'m Model) -> Result<Self> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| BatchError::Io {
            name: name.clone(),
            source,
        })?;
        Self::from_reader(file, model, name)
    }
}

impl<'m, R: Read> BatchReader<'m, R> {
    /// Read a batch from any byte source; `name` labels it in error messages.
    pub fn from_reader(source: R, model: &'m Model, name: String) -> Result<Self> {
        Self::start(source, Schema::Model(model), name)
    }

    /// Read a batch whose rows are checked later, against `columns` (a published
    /// equation's inputs): rows come as [`Item::Raw`].
    pub fn with_columns(source: R, columns: &'m ColumnSpec, name: String) -> Result<Self> {
        Self::start(source, Schema::Columns(columns), name)
    }

    fn start(source: R, schema: Schema<'m>, name: String) -> Result<Self> {
        let mut reader = BufReader::new(source);
        let first = match reader.fill_buf() {
            Ok(buf) => buf.iter().copied().find(|b| !b.is_ascii_whitespace()),
            Err(source) => return Err(BatchError::Io { name, source }),
        };
        let mut this = BatchReader {
            schema,
            name,
            reader,
            format: Format::JsonLines,
            line_no: 0,
            buf: Vec::new(),
        };
        match first {
            None => return Err(this.invalid("the input is empty")),
            Some(b'{') => {}
            Some(b'[') => this.read_json_array()?,
            Some(_) => this.read_csv_header()?,
        }
        Ok(this)
    }

    fn invalid(&self, reason: impl Into<String>) -> BatchError {
        BatchError::Invalid {
            name: self.name.clone(),
            reason: reason.into(),
        }
    }

    fn read_json_array(&mut self) -> Result<()> {
        let mut bytes = Vec::new();
        let limit = MAX_JSON_ARRAY_BYTES + 1;
        (&mut self.reader)
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|source| BatchError::Io {
                name: self.name.clone(),
                source,
            })?;
        if bytes.len() as u64 >= limit {
            return Err(self.invalid(
                "a JSON array larger than 64 MiB is not read at once; use JSON Lines (one object per line)",
            ));
        }
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| self.invalid("not UTF-8 text (save the file as UTF-8)"))?;
        let items: Vec<JsonRow> = serde_json::from_str(text).map_err(|e| {
            self.invalid(format!(
                "not a JSON array of objects (line {}, column {}: {})",
                e.line(),
                e.column(),
                e.classify_name()
            ))
        })?;
        self.format = Format::JsonArray {
            items: items.into_iter(),
        };
        Ok(())
    }

    fn read_csv_header(&mut self) -> Result<()> {
        let expected = expected_columns(self.schema);
        let line = read_bounded_line(&mut self.reader, &mut self.buf).map_err(|source| {
            BatchError::Io {
                name: self.name.clone(),
                source,
            }
        })?;
        if line != Some(true) {
            return Err(self.invalid("the header line is missing or too long"));
        }
        self.line_no = 1;
        let text = std::str::from_utf8(&self.buf).map_err(|_| {
            self.invalid("the header is not UTF-8 text (save the file as UTF-8 CSV)")
        })?;
        let text = text.trim_start_matches('\u{feff}');
        let header: Vec<String> = text.split(',').map(|c| c.trim().to_string()).collect();
        if header.len() == 1 && (text.contains(';') || text.contains('\t')) {
            return Err(self.invalid(format!(
                "the header has a single column; the delimiter must be a comma, not ';' or a tab (expected columns: {expected})"
            )));
        }
        let known: Vec<&str> = std::iter::once(PATIENT_ID)
            .chain(self.schema.names())
            .collect();
        // Positions, never the cells: a file without a header row has patient data here.
        let unknown: Vec<String> = header
            .iter()
            .enumerate()
            .filter(|(_, c)| !known.contains(&c.as_str()))
            .map(|(i, _)| (i + 1).to_string())
            .collect();
        if !unknown.is_empty() {
            return Err(self.invalid(format!(
                "the header row has {} unknown column(s), at position(s) {} (is the header row \
                 missing?); expected exactly: {expected}",
                unknown.len(),
                unknown.join(", ")
            )));
        }
        let present = |k: &str| header.iter().any(|h| h == k);
        let missing: Vec<String> = match self.schema {
            Schema::Model(_) => known
                .iter()
                .filter(|k| !present(k))
                .map(|k| k.to_string())
                .collect(),
            Schema::Columns(c) => std::iter::once(vec![PATIENT_ID.to_string()])
                .chain(c.required.iter().cloned())
                .filter(|any| !any.iter().any(|k| present(k)))
                .map(|any| any.join(" or "))
                .collect(),
        };
        if !missing.is_empty() {
            return Err(self.invalid(format!(
                "missing column(s) {}; expected: {expected}",
                missing.join(", ")
            )));
        }
        for (i, name) in header.iter().enumerate() {
            if header[..i].contains(name) {
                return Err(self.invalid(format!("column {name} appears twice")));
            }
        }
        self.format = Format::Csv { header };
        Ok(())
    }

    fn csv_row(&self, row: usize, header: &[String], line: &str) -> Item {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(line.as_bytes());
        let record = match reader.records().next() {
            Some(Ok(r)) => r,
            _ => {
                return Item::Rejected(RowError {
                    row,
                    patient_ref: None,
                    column: None,
                    reason: "not a valid CSV line".into(),
                })
            }
        };
        if record.len() != header.len() {
            return Item::Rejected(RowError {
                row,
                patient_ref: None,
                column: None,
                reason: format!(
                    "expected {} comma-separated fields, found {}",
                    header.len(),
                    record.len()
                ),
            });
        }
        let mut patient_ref = None;
        let mut given = Vec::with_capacity(header.len());
        let mut cells = Vec::new();
        for (i, (name, cell)) in header.iter().zip(record.iter()).enumerate() {
            if name == PATIENT_ID {
                match check_ref(row, cell) {
                    Ok(r) => patient_ref = Some(r),
                    Err(e) => return Item::Rejected(e),
                }
                continue;
            }
            let cell = cell.trim();
            if cell.is_empty() {
                continue; // reported as missing, with the allowed range
            }
            match cell.parse::<f64>() {
                Ok(value) => given.push(GivenField {
                    position: i + 1,
                    name: name.clone(),
                    value,
                }),
                Err(_) if matches!(self.schema, Schema::Columns(_)) => {
                    cells.push((name.clone(), InputValue::Level(cell.to_string())));
                }
                Err(_) => {
                    return Item::Rejected(RowError {
                        row,
                        patient_ref,
                        column: Some(name.clone()),
                        reason: "not a number".into(),
                    })
                }
            }
        }
        match (patient_ref, self.schema) {
            (Some(r), Schema::Model(model)) => validate(model, row, r, &given),
            (Some(r), Schema::Columns(_)) => {
                cells.extend(
                    given
                        .into_iter()
                        .map(|g| (g.name, InputValue::Number(g.value))),
                );
                raw_item(row, r, cells)
            }
            (None, _) => Item::Rejected(RowError {
                row,
                patient_ref: None,
                column: Some(PATIENT_ID.into()),
                reason: "missing".into(),
            }),
        }
    }

    /// One JSON object of the batch, read by the rule every JSON patient follows
    /// ([`JsonPatient`], shared with `screen --json`); a row must carry its reference.
    fn json_row(&self, row: usize, value: JsonRow) -> Item {
        let patient = match JsonPatient::read(row, value) {
            Ok(p) => p,
            Err(e) => return Item::Rejected(e),
        };
        let Some(patient_ref) = patient.patient_ref.clone() else {
            return Item::Rejected(RowError {
                row,
                patient_ref: None,
                column: Some(PATIENT_ID.into()),
                reason: "missing".into(),
            });
        };
        match self.schema {
            Schema::Model(model) => match patient.model_fields(model) {
                Ok(given) => validate(model, row, patient_ref, &given),
                Err(e) => Item::Rejected(e),
            },
            Schema::Columns(columns) => match patient.column_values(columns) {
                Ok(cells) => raw_item(row, patient_ref, cells),
                Err(e) => Item::Rejected(e),
            },
        }
    }

    fn next_line(&mut self) -> Option<Result<(usize, Result<String, &'static str>)>> {
        loop {
            let status = match read_bounded_line(&mut self.reader, &mut self.buf) {
                Ok(s) => s?,
                Err(source) => {
                    return Some(Err(BatchError::Io {
                        name: self.name.clone(),
                        source,
                    }))
                }
            };
            self.line_no += 1;
            if !status {
                return Some(Ok((self.line_no, Err("line longer than 64 KiB"))));
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(Ok((
                self.line_no,
                String::from_utf8(std::mem::take(&mut self.buf))
                    .map_err(|_| "not valid UTF-8 text"),
            )));
        }
    }
}

impl<R: Read> Iterator for BatchReader<'_, R> {
    type Item = Result<Item>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Format::JsonArray { items } = &mut self.format {
            let value = items.next()?;
            self.line_no += 1;
            let row = self.line_no;
            return Some(Ok(self.json_row(row, value)));
        }
        let (row, line) = match self.next_line()? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        let line = match line {
            Ok(l) => l,
            Err(reason) => {
                return Some(Ok(Item::Rejected(RowError {
                    row,
                    patient_ref: None,
                    column: None,
                    reason: reason.into(),
                })))
            }
        };
        Some(Ok(match &self.format {
            Format::Csv { header } => self.csv_row(row, header, &line),
            Format::JsonLines => match serde_json::from_str(&line) {
                Ok(value) => self.json_row(row, value),
                Err(e) => Item::Rejected(RowError {
                    row,
                    patient_ref: None,
                    column: None,
                    reason: format!(
                        "not a JSON object ({} at column {})",
                        e.classify_name(),
                        e.column()
                    ),
                }),
            },
            Format::JsonArray { .. } => unreachable!("handled above"),
        }))
    }
}

/// A readable name for serde_json's error categories (shared by the readers of files from
/// outside: batches, FHIR).
pub trait ClassifyName {
    /// `syntax error`, `unexpected data`, `unexpected end` or `read error`.
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "unexpected end",
        }
    }
}
