//! The `--errors` file of a batch: one CSV line per rejected row (row, patient_id, column,
//! reason — never a value), written beside its destination and moved into place at the end,
//! so an interrupted run leaves no half file. Shared by every batch path.

use std::io::Write;
use std::path::{Path, PathBuf};

use pulsecure_batch_input::RowError;

use crate::error::CliError;
use crate::results::{persist, temp_beside};

/// The rejected-rows file being written.
pub(crate) struct RejectedRows {
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl RejectedRows {
    /// Start the file for `dest` (its header line).
    pub(crate) fn create(dest: &Path) -> Result<Self, CliError> {
        let mut tmp = temp_beside(dest)?;
        writeln!(tmp, "row,patient_id,column,reason")?;
        Ok(RejectedRows {
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// Append one rejected row.
    pub(crate) fn write(&mut self, e: &RowError) -> std::io::Result<()> {
        let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
        w.write_record([
            e.row.to_string().as_str(),
            e.patient_ref.as_ref().map_or("", |r| r.as_str()),
            e.column.as_deref().unwrap_or(""),
            e.reason.as_str(),
        ])?;
        self.tmp
            .write_all(&w.into_inner().map_err(|e| e.into_error())?)
    }

    /// Sync the file and move it into place.
    pub(crate) fn finish(self) -> Result<(), CliError> {
        persist(self.tmp, &self.dest)
    }
}
