//! Reading stored screenings back, each labelled through the model it was stored with.

use std::sync::Arc;

use pulsecure_core::domain::equation_intake::IneligibleReason;
use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::domain::feature::FeatureSpec;
use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::ports::catalog::ModelCatalog;
use pulsecure_core::ports::store::{RecordStatus, StoredScreening};

use crate::error::{AppError, Result};
use crate::records::Records;

/// A stored screening with the features of *its* model, in its stored order.
#[derive(Clone, Debug)]
pub struct LabelledScreening {
    /// The decrypted row.
    pub stored: StoredScreening,
    /// Features of the model the row was made with (after an upgrade, not the active ones).
    pub features: Arc<Vec<FeatureSpec>>,
    /// For a published-equation row: its category and the table's probability scale.
    pub equation: Option<EquationReading>,
}

/// How a published-equation row reads: its category (from the stored probability, through
/// the row's own model) and the unit of its probability code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EquationReading {
    /// Category name (`low`, `borderline`, `intermediate`, `high`).
    pub category: String,
    /// Probability code units per 1 (10000 for PREVENT).
    pub probability_scale: u32,
}

impl LabelledScreening {
    /// Whether the row holds a result (else the patient was not eligible: no values, no
    /// risk, only the reason).
    pub fn status(&self) -> RecordStatus {
        self.stored.record.status
    }

    /// Why the patient got no estimate (a not-eligible row), else `None`.
    pub fn ineligible_reason(&self) -> Option<IneligibleReason> {
        match self.status() {
            RecordStatus::NotEligible(reason) => Some(reason),
            RecordStatus::Screened => None,
        }
    }

    /// The risk as the row's model reads it: one decimal for a published equation, whole
    /// percent (never "0 %") for cvd-lr; empty for a not-eligible row.
    pub fn risk_text(&self) -> String {
        if !self.status().is_screened() {
            return String::new();
        }
        let a = &self.stored.record.assessment;
        match &self.equation {
            Some(_) => pulsecure_core::domain::assessment::equation_risk_text(a.probability),
            None => a.risk_text(),
        }
    }

    /// The category of a published-equation row, else the cvd-lr class (`low`/`high`);
    /// `not_eligible` for a row without a result.
    pub fn risk_label(&self) -> String {
        if !self.status().is_screened() {
            return "not_eligible".to_string();
        }
        match &self.equation {
            Some(e) => e.category.clone(),
            None => self.stored.record.assessment.class.as_str().to_string(),
        }
    }

    /// Probability code units per 1 (4096 for cvd-lr).
    pub fn probability_scale(&self) -> u32 {
        self.equation.as_ref().map_or(4096, |e| e.probability_scale)
    }

    /// `(name, value as a clinician reads it)` pairs: "yes"/"no", an answer's label, or the
    /// number with its unit — through the row's own model; none for a not-eligible row.
    pub fn displayed_features(&self) -> impl Iterator<Item = (&str, String)> {
        let screened = self.status().is_screened();
        self.features
            .iter()
            .zip(self.stored.record.features.iter())
            .filter(move |_| screened)
            .map(|(spec, &value)| (spec.name.as_str(), spec.display_value(value)))
    }

    /// `(name, value)` pairs of the stored inputs (NaN for a not-eligible row).
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
        type Labels = (Arc<Vec<FeatureSpec>>, Option<Arc<EquationModel>>);
        let mut names: std::collections::HashMap<(String, u64), Labels> = Default::default();
        rows.into_iter()
            .map(|stored| {
                let a = &stored.record.assessment;
                let key = (a.model_id.clone(), a.model_version);
                let (features, equation) = match names.get(&key) {
                    Some((n, eq)) => (Arc::clone(n), eq.clone()),
                    None => {
                        let (n, eq): Labels = match self.catalog.model(&a.model_id, a.model_version)
                        {
                            Ok(model) => (Arc::new(model.features().to_vec()), None),
                            Err(e) => match self.catalog.equation(&a.model_id, a.model_version) {
                                Ok(model) => (Arc::new(model.input_features()), Some(model)),
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
                        names.insert(key, (Arc::clone(&n), eq.clone()));
                        (n, eq)
                    }
                };
                let equation = equation.map(|m| EquationReading {
                    category: m.output().categories[m.category_of(a.probability_code)]
                        .name
                        .clone(),
                    probability_scale: m.output().probability_scale,
                });
                Ok(LabelledScreening {
                    stored,
                    features,
                    equation,
                })
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
