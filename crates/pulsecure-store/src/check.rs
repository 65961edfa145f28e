//! `db check`: SQLite's integrity check plus decryptability of every row.

use pulsecure_core::ports::store::StoreError;

use crate::database::Database;
use crate::errors::SqliteContext;

/// What `Database::check` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// `PRAGMA integrity_check` lines (`["ok"]` when healthy).
    pub integrity: Vec<String>,
    /// Screenings checked.
    pub rows: usize,
    /// Ids of screenings that fail authentication or decoding.
    pub corrupt_ids: Vec<i64>,
    /// What was altered outside Pulsecure according to the integrity records (rows added,
    /// changed or deleted), e.g. "the audit log".
    pub altered: Vec<&'static str>,
}

impl CheckReport {
    /// Whether everything is healthy.
    pub fn is_ok(&self) -> bool {
        self.integrity == ["ok"] && self.corrupt_ids.is_empty() && self.altered.is_empty()
    }
}

impl Database {
    /// Run SQLite's integrity check, recompute the integrity records and try to decrypt
    /// every screening.
    pub fn check(&self) -> Result<CheckReport, StoreError> {
        let integrity = {
            let conn = self.conn()?;
            let mut stmt = conn
                .prepare("PRAGMA integrity_check")
                .context("running integrity_check")?;
            let lines = stmt
                .query_map([], |row| row.get::<_, String>(0))
                .context("running integrity_check")?
                .collect::<Result<Vec<_>, _>>()
                .context("running integrity_check")?;
            lines
        };
        let rows = self.decryptability()?;
        let altered = {
            let mut conn = self.conn()?;
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)
                .context("starting the integrity check")?;
            let altered = self.integrity.mismatches(&tx)?;
            tx.commit().context("ending the integrity check")?;
            altered
        };
        Ok(CheckReport {
            altered,
            integrity,
            rows: rows.len(),
            corrupt_ids: rows
                .into_iter()
                .filter(|(_, ok)| !ok)
                .map(|(id, _)| id)
                .collect(),
        })
    }
}
