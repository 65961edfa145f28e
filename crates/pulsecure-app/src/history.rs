//! Reading stored screenings back, each labelled through the model it was stored with.

use std::sync::Arc;

use pulsecure_core::domain::feature::FeatureSpec;
use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::ports::catalog::ModelCatalog;
use pulsecure_core::ports::store::StoredScreening;

use crate::error::{AppError, Result};
use crate::records::Records;

/// A stored screening with the features of *its* model, in its stored order.
#[derive(Clone, Debug)]
pub struct LabelledScreening {
    /// The decrypted row.
    pub stored: StoredScreening,
    /// Features of the model the row was made with (after an upgrade, not the active ones).
    pub features: Arc<Vec<FeatureSpec>>,
}

impl LabelledScreening {
    /// `(name, value as a clinician reads it)` pairs: "yes"/"no", an answer's label, or the
    /// number with its unit — through the row's own model.
    pub fn displayed_features(&self) -> impl Iterator<Item = (&str, String)> {
        self.features
            .iter()
            .zip(self.stored.record.features.iter())
            .map(|(spec, &value)| (spec.name.as_str(), spec.display_value(value)))
    }

    /// `(name, value)` pairs of the stored inputs.
    pub fn named_features(&self) -> impl Iterator<Item = (&str, f64)> {
        self.features
            .iter()
            .map(|spec| spec.name.as_str())
            .zip(self.stored.record.features.iter().copied())
    }
}

/// Which screenings to list (since, until, class): the store's filter, re-exported so front
/// ends need not depend on the store.
pub use pulsecure_store::ScreeningFilter as HistoryQuery;

impl Records {
    fn label(&self, rows: Vec<StoredScreening>) -> Result<Vec<LabelledScreening>> {
        let mut names: std::collections::HashMap<(String, u64), Arc<Vec<FeatureSpec>>> =
            Default::default();
        rows.into_iter()
            .map(|stored| {
                let a = &stored.record.assessment;
                let key = (a.model_id.clone(), a.model_version);
                let features = match names.get(&key) {
                    Some(n) => Arc::clone(n),
                    None => {
                        let n: Arc<Vec<FeatureSpec>> =
                            match self.catalog.model(&a.model_id, a.model_version) {
                                Ok(model) => Arc::new(model.features().to_vec()),
                                Err(e) => match self.catalog.equation(&a.model_id, a.model_version)
                                {
                                    Ok(model) => Arc::new(model.input_features()),
                                    Err(_) => return Err(e.into()),
                                },
                            };
                        if n.len() != stored.record.features.len() {
                            return Err(AppError::Integrity(format!(
                                "screening {} holds {} values, its model {} v{} has {} features",
                                stored.id,
                                stored.record.features.len(),
                                a.model_id,
                                a.model_version,
                                n.len()
                            )));
                        }
                        names.insert(key, Arc::clone(&n));
                        n
                    }
                };
                Ok(LabelledScreening { stored, features })
            })
            .collect()
    }

    /// Stored screenings matching `query`, oldest first.
    pub fn history(&self, query: &HistoryQuery) -> Result<Vec<LabelledScreening>> {
        let rows = self.db.history(query)?;
        self.label(rows)
    }

    /// One stored screening by id.
    pub fn screening(&self, id: i64) -> Result<LabelledScreening> {
        let row = self.db.screening(id)?;
        let mut labelled = self.label(vec![row])?;
        labelled.pop().ok_or(AppError::Store(
            pulsecure_core::ports::store::StoreError::NotFound(id),
        ))
    }

    /// Every screening, for an export by the data owner; the export is audited.
    pub fn export(&self) -> Result<Vec<LabelledScreening>> {
        let rows = self.history(&HistoryQuery::default())?;
        self.db.log_event(
            AuditEvent::DataExported,
            &format!("{} screening(s)", rows.len()),
        )?;
        Ok(rows)
    }

    /// SQLite's integrity check and the decryptability of every row. The report is
    /// returned either way (to be shown); [`damage`] turns a failing one into an error.
    pub fn check(&self) -> Result<pulsecure_store::CheckReport> {
        Ok(self.db.check()?)
    }
}

/// The error for a failing `db check` report (`None` when healthy).
pub fn damage(report: &pulsecure_store::CheckReport) -> Option<AppError> {
    (!report.is_ok()).then(|| AppError::DatabaseDamaged {
        damaged_rows: report.corrupt_ids.len(),
        integrity: report.integrity.join("; "),
    })
}
