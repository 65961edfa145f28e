//! The database checked against the vault's rollback floor ([`crate::StateFloor`]) when
//! opened, the floor it records back, and the floor carried over into a re-created database.

use pulsecure_core::ports::audit::AuditEvent;
use pulsecure_core::ports::clock::{Clock, SystemClock};
use pulsecure_core::ports::privacy::BudgetLedger;
use pulsecure_core::ports::registry::ModelRegistry;
use pulsecure_core::ports::store::StoreError;
use rusqlite::params;

use crate::database::Database;
use crate::errors::SqliteContext;
use crate::rollback_floor::StateFloor;

/// Tolerance for sums of ε charges.
const SLACK: f64 = 1e-9;

fn ledger_failure(e: pulsecure_core::ports::privacy::PrivacyError) -> StoreError {
    match e {
        pulsecure_core::ports::privacy::PrivacyError::Store(s) => s,
        other => StoreError::Backend(other.to_string()),
    }
}

impl Database {
    /// The database's current state, for the vault to record.
    pub fn state_floor(&self) -> Result<StateFloor, StoreError> {
        let status = self.status().map_err(ledger_failure)?;
        Ok(StateFloor {
            spent_epsilon: status.spent,
            total_epsilon: status.total,
            models: self.accepted_models()?,
            generation: self.generation()?,
        })
    }

    /// Write `floor` into a database that was just created (empty, integrity records
    /// fresh), with an audit entry saying so, in one transaction.
    pub(crate) fn carry_over(&self, floor: &StateFloor) -> Result<(), StoreError> {
        let now = SystemClock.now_unix_seconds();
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .context("starting a transaction")?;
        for m in &floor.models {
            let version = i64::try_from(m.version)
                .map_err(|_| StoreError::Backend("model version out of range".into()))?;
            tx.execute(
                "INSERT INTO model_state (model_id, version, sha256, accepted_at) VALUES (?1, ?2, ?3, ?4)",
                params![m.model_id, version, m.sha256, now],
            )
            .context("carrying over the model state")?;
            self.integrity
                .changed(&tx, "model_state", tx.last_insert_rowid(), None)?;
        }
        if floor.total_epsilon > 0.0 {
            tx.execute(
                "INSERT INTO dp_budget (id, total, created_at) VALUES (1, ?1, ?2)",
                params![floor.total_epsilon, now],
            )
            .context("carrying over the privacy budget")?;
            self.integrity.changed(&tx, "dp_budget", 1, None)?;
        }
        if floor.spent_epsilon > 0.0 {
            tx.execute(
                "INSERT INTO dp_releases (at, query, epsilon, data_version, result)
                 VALUES (?1, 'carried over from the previous database', ?2, 'carried-over', NULL)",
                params![now, floor.spent_epsilon],
            )
            .context("carrying over the spent budget")?;
            self.integrity
                .changed(&tx, "dp_releases", tx.last_insert_rowid(), None)?;
        }
        let detail = format!(
            "database was missing; carried over from the vault: {} ε spent of {}, {} model baseline(s)",
            floor.spent_epsilon,
            floor.total_epsilon,
            floor.models.len()
        );
        self.append_audit(&tx, AuditEvent::DatabaseRecreated, &detail)?;
        tx.commit().context("committing the carried-over state")
    }

    /// Refuse a database behind `floor`: less ε spent, a model id missing or at a lower
    /// version (or the same version with another hash) than the vault recorded, a higher
    /// lifetime budget, or an integrity state of a lower generation (an older copy, even
    /// one whose budget and models have not changed since).
    pub(crate) fn check_floor(&self, floor: &StateFloor) -> Result<(), StoreError> {
        let status = self.status().map_err(ledger_failure)?;
        if status.spent + SLACK < floor.spent_epsilon {
            return Err(StoreError::Tampered(format!(
                "the privacy ledger records {:.4} ε spent but the vault recorded {:.4}: the \
                 database was replaced by an older copy or its ledger was cut",
                status.spent, floor.spent_epsilon
            )));
        }
        for expected in &floor.models {
            let behind = match self.accepted(&expected.model_id)? {
                None => true,
                Some(found) => {
                    found.version < expected.version
                        || (found.version == expected.version && found.sha256 != expected.sha256)
                }
            };
            if behind {
                return Err(StoreError::Tampered(format!(
                    "the model anti-rollback state of {} is behind the vault's record (version \
                     {}): the database was replaced by an older copy",
                    expected.model_id, expected.version
                )));
            }
        }
        // A lower budget only restricts; a higher one would give ε back.
        if status.total > floor.total_epsilon + SLACK {
            return Err(StoreError::Tampered(format!(
                "the lifetime privacy budget is {:.4} ε but the vault recorded {:.4}: the \
                 budget was raised outside Pulsecure",
                status.total, floor.total_epsilon
            )));
        }
        let generation = self.generation()?;
        if generation < floor.generation {
            return Err(StoreError::Tampered(format!(
                "the database is at generation {generation} but the vault recorded generation \
                 {}: the database was replaced by an older copy (the screenings, releases and \
                 audit entries written since would be lost)",
                floor.generation
            )));
        }
        Ok(())
    }
}
