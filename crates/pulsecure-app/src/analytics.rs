//! Differentially private releases over the stored screenings, with their audit entries.

use pulsecure_core::domain::analytics::{Query, Window};
use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::ports::clock::{Clock, SystemClock};
use pulsecure_core::ports::privacy::PrivacyError;
use pulsecure_core::ports::privacy::{BudgetLedger, BudgetStatus, LedgerEntry};
use pulsecure_core::usecase::analytics::{AnalyticsService, Release};
use pulsecure_privacy::OpenDpMechanism;

use crate::error::Result;
use crate::records::Records;

/// The window of a release: screenings made before `before` (Unix seconds), or before the
/// current second when `None` (each such release is then a new one; name the same `before`
/// again to get a recorded answer back). A window ending in the future is refused.
pub fn statistics_window(before: Option<i64>) -> Result<Window> {
    let now = SystemClock.now_unix_seconds();
    Ok(Window::as_of(before.unwrap_or(now), now).map_err(PrivacyError::from)?)
}

impl Records {
    fn analytics(&self) -> AnalyticsService<'_> {
        AnalyticsService::new(&self.db, &OpenDpMechanism, &self.db, &self.catalog)
    }

    /// The ε `query` would cost at `epsilon` (no noise drawn) and the budget now.
    pub fn quote(&self, query: &Query, epsilon: f64) -> Result<(f64, BudgetStatus)> {
        let cost = self.analytics().quote(query, epsilon)?;
        Ok((cost, self.db.status()?))
    }

    /// Release `query` at `epsilon` over `window`; log it, and record it in the audit log
    /// when budget was spent (a recorded answer returned again costs nothing and is not a
    /// new release).
    pub fn release(&self, query: &Query, epsilon: f64, window: Window) -> Result<Release> {
        let r = self.analytics().release(query, epsilon, window)?;
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
            self.record_floor()?;
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
