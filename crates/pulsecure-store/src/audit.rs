//! The security audit log (append-only from the application's point of view).

use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::ports::clock::{Clock, SystemClock};
use pulsecure_core::ports::store::StoreError;
use rusqlite::{params, Connection};

use crate::database::Database;
use crate::errors::SqliteContext;

/// One logged event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// Unix seconds.
    pub at: i64,
    /// Event name (see `AuditEvent::as_str`).
    pub event: String,
    /// Detail: ids, versions, ε — never patient data.
    pub detail: String,
}

impl AuditLog for Database {
    fn log_event(&self, event: AuditEvent, detail: &str) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .context("starting a transaction")?;
        self.append_audit(&tx, event, detail)?;
        tx.commit().context("writing the audit log")
    }
}

impl Database {
    /// Append an audit entry inside the caller's transaction, updating its integrity record.
    pub(crate) fn append_audit(
        &self,
        tx: &Connection,
        event: AuditEvent,
        detail: &str,
    ) -> Result<(), StoreError> {
        tx.execute(
            "INSERT INTO audit_log (at, event, detail) VALUES (?1, ?2, ?3)",
            params![SystemClock.now_unix_seconds(), event.as_str(), detail],
        )
        .context("writing the audit log")?;
        self.integrity
            .changed(tx, "audit_log", tx.last_insert_rowid(), None)
    }
}

impl Database {
    /// The audit log, oldest first.
    pub fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare("SELECT at, event, detail FROM audit_log ORDER BY id")
            .context("reading the audit log")?;
        let rows = stmt
            .query_map([], |row| {
                Ok(AuditEntry {
                    at: row.get(0)?,
                    event: row.get(1)?,
                    detail: row.get(2)?,
                })
            })
            .context("reading the audit log")?
            .collect::<Result<Vec<_>, _>>()
            .context("reading the audit log")?;
        Ok(rows)
    }
}
