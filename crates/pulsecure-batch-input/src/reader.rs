//! The batch reader: opens an input, tells its format by its first byte (`{` JSON Lines,
//! `[` a JSON array, anything else CSV with a header) and yields one item per row. The
//! formats' own parsing is in `csv_format` and `json_format`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use pulsecure_core::domain::equation::InputValue;
use pulsecure_core::{Model, PatientRef};

use crate::lines::read_bounded_line;
use crate::row::{model_columns, ColumnSpec, Item, RawRow, RowError};
use crate::{BatchError, ClassifyName, JsonRow, Result, PATIENT_ID};

/// What a batch's rows are read against.
#[derive(Clone, Copy)]
pub(crate) enum Schema<'m> {
    /// A schema-1 model: each row validated into [`PatientFeatures`].
    Model(&'m Model),
    /// Named columns: each row's values as given ([`RawRow`]).
    Columns(&'m ColumnSpec),
}

impl Schema<'_> {
    /// The accepted columns besides `patient_id`.
    pub(crate) fn names(&self) -> Vec<&str> {
        match self {
            Schema::Model(m) => model_columns(m),
            Schema::Columns(c) => c.accepted.iter().map(String::as_str).collect(),
        }
    }
}

pub(crate) fn expected_columns(schema: Schema<'_>) -> String {
    std::iter::once(PATIENT_ID)
        .chain(schema.names())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The row of a column-read batch: numbers, or text (a level); the reference is checked.
pub(crate) fn raw_item(
    row: usize,
    patient_ref: PatientRef,
    cells: Vec<(String, InputValue)>,
) -> Item {
    Item::Raw(RawRow {
        row,
        patient_ref,
        values: cells.into_iter().collect(),
    })
}

pub(crate) enum Format {
    Csv { header: Vec<String> },
    JsonLines,
    JsonArray { items: std::vec::IntoIter<JsonRow> },
}

/// A batch being read.
pub struct BatchReader<'m, R: Read = File> {
    pub(crate) schema: Schema<'m>,
    pub(crate) name: String,
    pub(crate) reader: BufReader<R>,
    pub(crate) format: Format,
    pub(crate) line_no: usize,
    pub(crate) buf: Vec<u8>,
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

    pub(crate) fn invalid(&self, reason: impl Into<String>) -> BatchError {
        BatchError::Invalid {
            name: self.name.clone(),
            reason: reason.into(),
        }
    }

    pub(crate) fn next_line(&mut self) -> Option<Result<(usize, Result<String, &'static str>)>> {
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
