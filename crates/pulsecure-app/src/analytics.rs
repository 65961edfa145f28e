//! Differentially private releases over the stored screenings, with their audit entries.

use pulsecure_core::app::analytics::{AnalyticsService, Release};
use pulsecure_core::domain::analytics::Query;
use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::ports::privacy::{BudgetLedger, BudgetStatus, LedgerEntry};
use pulsecure_privacy::OpenDpMechanism;

use crate::error::Result;
use crate::records::Records;

impl Records {
    fn analytics(&self) -> AnalyticsService<'_> {
        AnalyticsService::new(&self.db, &OpenDpMechanism, &self.db, &self.catalog)
    }

    /// The ε `query` would cost at `epsilon` (no noise drawn) and the budget now.
    pub fn quote(&self, query: &Query, epsilon: f64) -> Result<(f64, BudgetStatus)> {
        let cost = self.analytics().quote(query, epsilon)?;
        Ok((cost, self.db.status()?))
    }

    /// Release `query` at `epsilon`; log it, and record it in the audit log when budget was
    /// spent (a recorded answer returned again costs nothing and is not a new release).
    pub fn release(&self, query: &Query, epsilon: f64) -> Result<Release> {
        let r = self.analytics().release(query, epsilon)?;
        tracing::info!(
            query = query.key().as_str(),
            epsilon_charged = r.epsilon_charged,
            cached = r.cached,
            "privacy release"
        );
        if !r.cached {
            self.db.log_event(
                AuditEvent::PrivacyRelease,
                &format!("{} ε={}", query.key(), r.epsilon_charged),
            )?;
        }
        Ok(r)
    }

    /// The lifetime budget.
    pub fn budget(&self) -> Result<BudgetStatus> {
        Ok(self.db.status()?)
    }

    /// Every release, oldest first.
    pub fn privacy_log(&self) -> Result<Vec<LedgerEntry>> {
        Ok(self.db.entries()?)
    }
}
