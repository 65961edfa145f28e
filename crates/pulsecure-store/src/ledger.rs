//! The ε ledger: one lifetime budget, every release recorded, spends checked and written
//! in one `BEGIN IMMEDIATE` transaction so concurrent spenders (threads or processes)
//! serialize and a crash never loses a spend.

use pulsecure_core::ports::clock::{Clock, SystemClock};
use pulsecure_core::ports::privacy::{BudgetLedger, BudgetStatus, LedgerEntry, PrivacyError};
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use crate::database::Database;

/// Lifetime ε of a database whose budget was never set explicitly.
pub const DEFAULT_TOTAL_EPSILON: f64 = 1.0;

/// Tolerance for floating-point sums of charges (ε values are added, not multiplied).
const SLACK: f64 = 1e-9;

fn ledger_err(e: impl std::fmt::Display) -> PrivacyError {
    PrivacyError::Ledger(e.to_string())
}

fn store_err(e: pulsecure_core::ports::store::StoreError) -> PrivacyError {
    match e {
        pulsecure_core::ports::store::StoreError::Locked => {
            PrivacyError::Ledger("the database is locked by another process".into())
        }
        other => PrivacyError::Store(other),
    }
}

fn read_status(conn: &rusqlite::Connection) -> Result<BudgetStatus, PrivacyError> {
    let total: Option<f64> = conn
        .query_row("SELECT total FROM dp_budget WHERE id = 1", [], |r| r.get(0))
        .optional()
        .map_err(ledger_err)?;
    let total = total.unwrap_or(DEFAULT_TOTAL_EPSILON);
    let spent: f64 = conn
        .query_row(
            "SELECT COALESCE(SUM(epsilon), 0.0) FROM dp_releases",
            [],
            |r| r.get(0),
        )
        .map_err(ledger_err)?;
    Ok(BudgetStatus {
        total,
        spent,
        remaining: (total - spent).max(0.0),
    })
}

fn parse_result(text: Option<String>) -> Option<Vec<f64>> {
    text.and_then(|t| {
        t.split(',')
            .map(|v| v.parse::<f64>().ok())
            .collect::<Option<Vec<f64>>>()
    })
}

impl Database {
    /// Set the lifetime budget (only before any release: it can never be raised after
    /// spending started, which would defeat the bound).
    pub fn set_privacy_budget(&self, total: f64) -> Result<(), PrivacyError> {
        if !total.is_finite() || total <= 0.0 {
            return Err(PrivacyError::InvalidBudget);
        }
        let mut conn = self.conn().map_err(store_err)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(ledger_err)?;
        let releases: i64 = tx
            .query_row("SELECT count(*) FROM dp_releases", [], |r| r.get(0))
            .map_err(ledger_err)?;
        if releases > 0 {
            return Err(PrivacyError::Ledger(
                "the budget cannot be changed once releases were made".into(),
            ));
        }
        let before = self
            .integrity
            .tag_of(&tx, "dp_budget", 1)
            .map_err(store_err)?;
        tx.execute(
            "INSERT INTO dp_budget (id, total, created_at) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET total = excluded.total",
            params![total, SystemClock.now_unix_seconds()],
        )
        .map_err(ledger_err)?;
        self.integrity
            .changed(&tx, "dp_budget", 1, before)
            .map_err(store_err)?;
        tx.commit().map_err(ledger_err)
    }
}

impl BudgetLedger for Database {
    fn try_spend(
        &self,
        query: &str,
        data_version: &str,
        epsilon: f64,
    ) -> Result<i64, PrivacyError> {
        if !epsilon.is_finite() || epsilon <= 0.0 {
            return Err(PrivacyError::InvalidEpsilon);
        }
        let mut conn = self.conn().map_err(store_err)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DatabaseBusy) => {
                    PrivacyError::Ledger("the database is locked by another process".into())
                }
                _ => ledger_err(e),
            })?;
        let status = read_status(&tx)?;
        if status.spent + epsilon > status.total + SLACK {
            return Err(PrivacyError::BudgetExceeded {
                requested: epsilon,
                remaining: status.remaining,
            });
        }
        tx.execute(
            "INSERT INTO dp_releases (at, query, epsilon, data_version, result) VALUES (?1, ?2, ?3, ?4, NULL)",
            params![SystemClock.now_unix_seconds(), query, epsilon, data_version],
        )
        .map_err(ledger_err)?;
        let id = tx.last_insert_rowid();
        self.integrity
            .changed(&tx, "dp_releases", id, None)
            .map_err(store_err)?;
        tx.commit().map_err(ledger_err)?;
        Ok(id)
    }

    fn record_result(&self, id: i64, result: &[f64]) -> Result<(), PrivacyError> {
        let text = result
            .iter()
            .map(f64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut conn = self.conn().map_err(store_err)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(ledger_err)?;
        let before = self
            .integrity
            .tag_of(&tx, "dp_releases", id)
            .map_err(store_err)?;
        tx.execute(
            "UPDATE dp_releases SET result = ?1 WHERE id = ?2",
            params![text, id],
        )
        .map_err(ledger_err)?;
        self.integrity
            .changed(&tx, "dp_releases", id, before)
            .map_err(store_err)?;
        tx.commit().map_err(ledger_err)
    }

    fn find(&self, query: &str, data_version: &str) -> Result<Option<LedgerEntry>, PrivacyError> {
        Ok(self
            .entries()?
            .into_iter()
            .find(|e| e.query == query && e.data_version == data_version && e.result.is_some()))
    }

    fn status(&self) -> Result<BudgetStatus, PrivacyError> {
        let conn = self.conn().map_err(store_err)?;
        read_status(&conn)
    }

    fn entries(&self) -> Result<Vec<LedgerEntry>, PrivacyError> {
        let conn = self.conn().map_err(store_err)?;
        let mut stmt = conn
            .prepare(
                "SELECT id, at, query, epsilon, data_version, result FROM dp_releases ORDER BY id",
            )
            .map_err(ledger_err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(LedgerEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    query: r.get(2)?,
                    epsilon: r.get(3)?,
                    data_version: r.get(4)?,
                    result: parse_result(r.get(5)?),
                })
            })
            .map_err(ledger_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(ledger_err)?;
        Ok(rows)
    }
}
