//! JSON batches: an array of objects (read at once, capped in size) or JSON Lines (one
//! object per line); each object read by the rule every JSON patient follows.

use std::io::Read;

use crate::json_patient::JsonPatient;
use crate::reader::{raw_item, BatchReader, Format, Schema};
use crate::row::{validate, Item, RowError};
use crate::{BatchError, ClassifyName, JsonRow, Result, MAX_JSON_ARRAY_BYTES, PATIENT_ID};

impl<R: Read> BatchReader<'_, R> {
    pub(crate) fn read_json_array(&mut self) -> Result<()> {
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

    /// One JSON object of the batch, read by the rule every JSON patient follows
    /// ([`JsonPatient`], shared with `screen --json`); a row must carry its reference.
    pub(crate) fn json_row(&self, row: usize, value: JsonRow) -> Item {
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
}
