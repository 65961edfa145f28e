//! `AnalyticsService`: differentially private aggregate statistics over stored screenings.
//!
//! The budget is charged atomically *before* any noise is drawn, so a refused release costs
//! nothing and reveals nothing.

use crate::domain::assessment::RiskClass;
use crate::ports::privacy::{BudgetLedger, PrivacyError, PrivacyMechanism};
use crate::ports::store::ScreeningStore;

/// A released statistic.
#[derive(Clone, Debug, PartialEq)]
pub struct Release {
    /// Query name.
    pub query: &'static str,
    /// Noisy value.
    pub value: f64,
    /// ε charged.
    pub epsilon: f64,
    /// ε left afterwards.
    pub remaining: f64,
}

/// DP statistics over a screening store.
pub struct AnalyticsService<'a> {
    store: &'a dyn ScreeningStore,
    mechanism: &'a dyn PrivacyMechanism,
    ledger: &'a dyn BudgetLedger,
}

impl<'a> AnalyticsService<'a> {
    /// Wire the ports.
    pub fn new(
        store: &'a dyn ScreeningStore,
        mechanism: &'a dyn PrivacyMechanism,
        ledger: &'a dyn BudgetLedger,
    ) -> Self {
        AnalyticsService {
            store,
            mechanism,
            ledger,
        }
    }

    /// Noisy number of high-risk screenings (sensitivity 1).
    pub fn count_high_risk(&self, epsilon: f64) -> Result<Release, PrivacyError> {
        const QUERY: &str = "count-high-risk";
        if !epsilon.is_finite() || epsilon <= 0.0 {
            return Err(PrivacyError::InvalidEpsilon);
        }
        let records = self
            .store
            .all()
            .map_err(|e| PrivacyError::Ledger(e.to_string()))?;
        if records.is_empty() {
            return Err(PrivacyError::EmptyDataset);
        }
        let count = records
            .iter()
            .filter(|r| r.record.assessment.class == RiskClass::High)
            .count() as u64;
        self.ledger.try_spend(QUERY, epsilon)?;
        let (value, _) = self.mechanism.noisy_count(count, epsilon)?;
        Ok(Release {
            query: QUERY,
            value,
            epsilon,
            remaining: self.ledger.remaining()?,
        })
    }
}
