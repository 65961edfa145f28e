//! A batch file read a chunk at a time, for both ways of screening a batch (the evaluator
//! service and the job queue): each chunk holds the next valid rows whose reference was not
//! seen earlier in the file; rejected rows and repeated references are reported as they are
//! read. Memory stays bounded whatever the file size.

use std::collections::HashMap;
use std::io::Read;

use pulsecure_batch_input::{BatchReader, IneligibleRow, InputRow, Item, RowError, PATIENT_ID};
use pulsecure_core::PatientRef;

use crate::error::{AppError, Result};

/// A row of a chunk: to screen, or outside the model's population (to store as such).
pub(crate) enum ChunkRow {
    /// Validated; to screen.
    Screen(InputRow),
    /// Not eligible; nothing to encrypt.
    NotEligible(IneligibleRow),
}

impl ChunkRow {
    /// 1-based row number.
    pub(crate) fn row(&self) -> usize {
        match self {
            ChunkRow::Screen(r) => r.row,
            ChunkRow::NotEligible(r) => r.row,
        }
    }

    /// The row's reference.
    pub(crate) fn patient_ref(&self) -> &PatientRef {
        match self {
            ChunkRow::Screen(r) => &r.patient_ref,
            ChunkRow::NotEligible(r) => &r.patient_ref,
        }
    }
}

/// A stream of batch items: a batch file's rows, or patients read from FHIR.
pub(crate) type Items<'m> = Box<dyn Iterator<Item = Result<Item>> + 'm>;

/// The items of a batch file, with its errors as the application's.
pub(crate) fn file_items<'m, R: Read + 'm>(reader: BatchReader<'m, R>) -> Items<'m> {
    Box::new(reader.map(|item| item.map_err(AppError::from)))
}

/// The rows of a batch, chunk by chunk.
pub(crate) struct RowChunks<'m> {
    reader: Items<'m>,
    /// Each reference read so far, with its first row.
    seen: HashMap<PatientRef, usize>,
    exhausted: bool,
}

impl<'m> RowChunks<'m> {
    /// Chunks of `reader`'s rows.
    pub(crate) fn new(reader: Items<'m>) -> Self {
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
    ) -> Result<Option<Vec<ChunkRow>>> {
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
                Item::Row(row) => self.push(&mut chunk, ChunkRow::Screen(row), rejected)?,
                Item::NotEligible(row) => {
                    self.push(&mut chunk, ChunkRow::NotEligible(row), rejected)?
                }
            }
        }
        Ok(Some(chunk))
    }

    /// Add `row` to `chunk`, or report it when its reference was seen earlier in the file.
    fn push(
        &mut self,
        chunk: &mut Vec<ChunkRow>,
        row: ChunkRow,
        rejected: &mut dyn FnMut(&RowError) -> Result<()>,
    ) -> Result<()> {
        match self.seen.get(row.patient_ref()) {
            Some(first) => rejected(&RowError {
                row: row.row(),
                patient_ref: Some(row.patient_ref().clone()),
                column: Some(PATIENT_ID.into()),
                reason: format!("duplicated patient_id (first on row {first})"),
            }),
            None => {
                self.seen.insert(row.patient_ref().clone(), row.row());
                chunk.push(row);
                Ok(())
            }
        }
    }
}
