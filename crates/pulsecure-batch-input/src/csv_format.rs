//! CSV batches: the header checked against the accepted columns (by position, never
//! echoing a cell), then each line as a row.

use std::io::Read;

use pulsecure_core::domain::equation::InputValue;
use pulsecure_core::GivenField;

use crate::lines::read_bounded_line;
use crate::reader::{expected_columns, raw_item, BatchReader, Format, Schema};
use crate::row::{check_ref, validate, Item, RowError};
use crate::{BatchError, Result, PATIENT_ID};

impl<R: Read> BatchReader<'_, R> {
    pub(crate) fn read_csv_header(&mut self) -> Result<()> {
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

    pub(crate) fn csv_row(&self, row: usize, header: &[String], line: &str) -> Item {
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
}
