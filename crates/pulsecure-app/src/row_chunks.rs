//! A batch file read a chunk at a time, for both ways of screening a batch (the evaluator
//! service and the job queue): each chunk holds the next valid rows whose reference was not
//! seen earlier in the file; rejected rows and repeated references are reported as they are
//! read. Memory stays bounded whatever the file size.

use std::collections::HashMap;
use std::io::Read;

use pulsecure_batch::{BatchReader, InputRow, Item, RowError, PATIENT_ID};
use pulsecure_core::PatientRef;

use crate::error::Result;

/// The rows of a batch, chunk by chunk.
pub(crate) struct RowChunks<'m, R: Read> {
    reader: BatchReader<'m, R>,
    /// Each reference read so far, with its first row.
    seen: HashMap<PatientRef, usize>,
    exhausted: bool,
}

impl<'m, R: Read> RowChunks<'m, R> {
    /// Chunks of `reader`'s rows.
    pub(crate) fn new(reader: BatchReader<'m, R>) -> Self {
        RowChunks {
            reader,
            seen: HashMap::new(),
            exhausted: false,
        }
    }

    /// Up to `size` rows (fewer, possibly none, at the end of the file), or `None` once the
    /// last chunk was returned. `rejected` gets every invalid row and every reference seen
    /// before, in file order.
    pub(crate) fn next_chunk(
        &mut self,
        size: usize,
        rejected: &mut dyn FnMut(&RowError) -> Result<()>,
    ) -> Result<Option<Vec<InputRow>>> {
        if self.exhausted {
            return Ok(None);
        }
        let mut chunk = Vec::with_capacity(size);
        while chunk.len() < size {
            let Some(item) = self.reader.next() else {
                self.exhausted = true;
                break;
            };
            match item? {
                Item::Rejected(e) => rejected(&e)?,
                Item::Raw(raw) => rejected(&RowError {
                    row: raw.row,
                    patient_ref: Some(raw.patient_ref),
                    column: None,
                    reason: "not read against this model".into(),
                })?,
                Item::Row(row) => match self.seen.get(&row.patient_ref) {
                    Some(first) => rejected(&RowError {
                        row: row.row,
                        patient_ref: Some(row.patient_ref.clone()),
                        column: Some(PATIENT_ID.into()),
                        reason: format!("duplicated patient_id (first on row {first})"),
                    })?,
                    None => {
                        self.seen.insert(row.patient_ref.clone(), row.row);
                        chunk.push(row);
                    }
                },
            }
        }
        Ok(Some(chunk))
    }
}
