//! The items of a published-equation batch as every transport takes them (direct evaluator
//! or job queue): each patient once — a repeated reference is a rejected row — and an item
//! read for a schema-1 model rejected.

use std::collections::HashSet;

use pulsecure_batch_input::{IneligibleRow, InputRow, Item, RawRow, RowError, PATIENT_ID};
use pulsecure_core::PatientRef;

use crate::error::Result;
use crate::row_chunks::Items;

/// One patient of a published-equation batch, or a rejected row.
pub(crate) enum EquationItem {
    /// Values to take through each model's intake.
    Raw(RawRow),
    /// Decided not eligible before intake (a FHIR record's sex).
    NotEligible(IneligibleRow),
    /// A rejected row (which row, which column, why — never the value).
    Rejected(RowError),
}

/// [`Items`] as [`EquationItem`]s.
pub(crate) struct EquationItems<'a> {
    items: Items<'a>,
    seen: HashSet<PatientRef>,
}

impl<'a> EquationItems<'a> {
    /// Read `items`.
    pub(crate) fn new(items: Items<'a>) -> Self {
        EquationItems {
            items,
            seen: HashSet::new(),
        }
    }

    /// `item` unless its patient came before.
    fn once(&mut self, row: usize, patient_ref: &PatientRef, item: EquationItem) -> EquationItem {
        if self.seen.insert(patient_ref.clone()) {
            return item;
        }
        EquationItem::Rejected(RowError {
            row,
            patient_ref: Some(patient_ref.clone()),
            column: Some(PATIENT_ID.into()),
            reason: "duplicated patient_id".into(),
        })
    }
}

impl Iterator for EquationItems<'_> {
    type Item = Result<EquationItem>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = match self.items.next()? {
            Ok(item) => item,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(match item {
            Item::Raw(raw) => {
                let (row, patient_ref) = (raw.row, raw.patient_ref.clone());
                self.once(row, &patient_ref, EquationItem::Raw(raw))
            }
            Item::NotEligible(decided) => {
                let (row, patient_ref) = (decided.row, decided.patient_ref.clone());
                self.once(row, &patient_ref, EquationItem::NotEligible(decided))
            }
            Item::Rejected(e) => EquationItem::Rejected(e),
            // Not produced for published equations; kept exhaustive.
            Item::Row(InputRow {
                row, patient_ref, ..
            }) => EquationItem::Rejected(RowError {
                row,
                patient_ref: Some(patient_ref),
                column: None,
                reason: "not read against this model".into(),
            }),
        }))
    }
}
