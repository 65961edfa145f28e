//! Streaming reader of patient batches (CSV with a header, JSON Lines, or a JSON array):
//! yields one validated patient or one specific error per row, never loading the whole
//! input (except a JSON array, capped in size).
//!
//! A crate of its own, with no heavy dependency, so that the parser facing files from outside
//! can be fuzzed (`fuzz/fuzz_targets/batch_reader.rs`) and reused by every front end.

use thiserror::Error;

mod csv_format;
mod json_format;
mod json_object;
mod json_patient;
mod lines;
mod reader;
mod row;

pub use json_object::JsonRow;
pub use json_patient::{JsonField, JsonPatient, JsonValue, PATIENT_REF_ALIAS};
pub use lines::{count_rows, read_line_within};
pub use reader::BatchReader;
pub use row::{validate, ColumnSpec, IneligibleRow, InputRow, Item, RawRow, RowError};

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
