//! `AnalyticsService`: differentially private aggregate statistics over stored screenings.
//!
//! Order of operations, so that a refused release costs nothing and reveals nothing: validate
//! ε and the query; return the recorded answer if this query was already released over the
//! same public window (no averaging attack, no cost, and — the window being named by the
//! analyst and closed — nothing learnt about screenings added since); ask the mechanism what the release really costs;
//! spend that ε atomically in the ledger (or refuse); only then draw noise; record the result.

use crate::domain::analytics::{Dataset, Query, Window};
use crate::ports::catalog::ModelCatalog;
use crate::ports::privacy::{BudgetLedger, BudgetStatus, PrivacyError, PrivacyMechanism};
use crate::ports::store::{ScreeningStore, StoredScreening};

/// The feature the histogram reads from every stored screening.
pub const AGE_FEATURE: &str = "age";

/// A released statistic.
#[derive(Clone, Debug, PartialEq)]
pub struct Release {
    /// The query.
    pub query: Query,
    /// Noisy values, labelled by [`Query::outputs`].
    pub values: Vec<f64>,
    /// ε charged now (0 when `cached`).
    pub epsilon_charged: f64,
    /// Whether this is the recorded answer of an earlier identical release.
    pub cached: bool,
    /// Budget after the release.
    pub budget: BudgetStatus,
}

/// DP statistics over a screening store.
pub struct AnalyticsService<'a> {
    store: &'a dyn ScreeningStore,
    mechanism: &'a dyn PrivacyMechanism,
    ledger: &'a dyn BudgetLedger,
    catalog: &'a dyn ModelCatalog,
}

/// Reduce stored screenings to what the queries read. Each row's age is read through the model the row was stored with (its own feature order); a
/// row whose model has no age feature is an error, never a silent 0.
pub fn dataset_of(
    rows: &[StoredScreening],
    catalog: &dyn ModelCatalog,
) -> Result<Dataset, PrivacyError> {
    let mut data = Dataset::default();
    let mut age_index: std::collections::HashMap<(String, u64), usize> = Default::default();
    for row in rows {
        let a = &row.record.assessment;
        let key = (a.model_id.clone(), a.model_version);
        let index = match age_index.get(&key) {
            Some(i) => *i,
            None => {
                let names: Vec<String> = match catalog.model(&a.model_id, a.model_version) {
                    Ok(model) => model.features().iter().map(|f| f.name.clone()).collect(),
                    Err(e) => match catalog.equation(&a.model_id, a.model_version) {
                        Ok(model) => model
                            .equation()
                            .inputs
                            .iter()
                            .map(|i| i.name.clone())
                            .collect(),
                        Err(_) => return Err(e.into()),
                    },
                };
                let i = names.iter().position(|f| f == AGE_FEATURE).ok_or_else(|| {
                    PrivacyError::MissingFeature {
                        model: format!("{} v{}", a.model_id, a.model_version),
                        feature: AGE_FEATURE,
                    }
                })?;
                age_index.insert(key, i);
                i
            }
        };
        let age = row
            .record
            .features
            .get(index)
            .copied()
            .ok_or(crate::ports::store::StoreError::Corrupt { id: row.id })?;
        let high = a.class == crate::RiskClass::High;
        data.high_risk.push(high);
        data.probability_codes.push(i64::from(a.probability_code));
        data.cells.push(Dataset::cell(a.class, age));
    }
    Ok(data)
}

impl<'a> AnalyticsService<'a> {
    /// Wire the ports; `catalog` resolves the model each stored row was made with.
    pub fn new(
        store: &'a dyn ScreeningStore,
        mechanism: &'a dyn PrivacyMechanism,
        ledger: &'a dyn BudgetLedger,
        catalog: &'a dyn ModelCatalog,
    ) -> Self {
        AnalyticsService {
            store,
            mechanism,
            ledger,
            catalog,
        }
    }

    /// The ε the release would charge, computed without drawing noise (for confirmation).
    pub fn quote(&self, query: &Query, epsilon: f64) -> Result<f64, PrivacyError> {
        if !epsilon.is_finite() || epsilon <= 0.0 {
            return Err(PrivacyError::InvalidEpsilon);
        }
        query.validate()?;
        self.mechanism.cost(query, epsilon)
    }

    /// Release `query` at `epsilon` over the screenings in `window`, or the recorded answer
    /// of the same query over the same window.
    pub fn release(
        &self,
        query: &Query,
        epsilon: f64,
        window: Window,
    ) -> Result<Release, PrivacyError> {
        let charge = self.quote(query, epsilon)?;
        let mut rows = self.store.all()?;
        // Not-eligible rows hold no result (and no values): they are not part of any statistic.
        rows.retain(|r| r.record.created_at < window.before() && r.record.status.is_screened());
        if rows.is_empty() {
            return Err(PrivacyError::EmptyDataset);
        }
        let data = dataset_of(&rows, self.catalog)?;
        let version = window.key();
        let key = format!("{}@eps={epsilon}", query.key());
        if let Some(prior) = self.ledger.find(&key, &version)? {
            if let Some(values) = prior.result {
                return Ok(Release {
                    query: query.clone(),
                    values,
                    epsilon_charged: 0.0,
                    cached: true,
                    budget: self.ledger.status()?,
                });
            }
        }
        let id = self.ledger.try_spend(&key, &version, charge)?;
        let values = self.mechanism.release(query, epsilon, &data)?;
        self.ledger.record_result(id, &values)?;
        Ok(Release {
            query: query.clone(),
            values,
            epsilon_charged: charge,
            cached: false,
            budget: self.ledger.status()?,
        })
    }
}
