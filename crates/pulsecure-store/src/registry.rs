//! Model anti-rollback state: per model id, the highest version accepted and its hash.

use pulsecure_core::ports::clock::{Clock, SystemClock};
use pulsecure_core::ports::registry::{AcceptedModel, ModelRegistry};
use pulsecure_core::ports::store::StoreError;
use rusqlite::{params, OptionalExtension};

use crate::database::Database;
use crate::errors::SqliteContext;

impl ModelRegistry for Database {
    fn accepted(&self, model_id: &str) -> Result<Option<AcceptedModel>, StoreError> {
        let row: Option<(i64, String)> = self
            .conn()?
            .query_row(
                "SELECT version, sha256 FROM model_state WHERE model_id = ?1",
                [model_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .context("reading the model state")?;
        row.map(|(version, sha256)| {
            Ok(AcceptedModel {
                model_id: model_id.to_string(),
                version: u64::try_from(version)
                    .map_err(|_| StoreError::Backend("negative model version stored".into()))?,
                sha256,
            })
        })
        .transpose()
    }

    fn record(&self, model: &AcceptedModel) -> Result<(), StoreError> {
        let version = i64::try_from(model.version)
            .map_err(|_| StoreError::Backend("model version out of range".into()))?;
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .context("starting a transaction")?;
        // Re-check inside the write lock: a concurrent install of a higher version wins.
        let current: Option<i64> = tx
            .query_row(
                "SELECT version FROM model_state WHERE model_id = ?1",
                [&model.model_id],
                |row| row.get(0),
            )
            .optional()
            .context("reading the model state")?;
        if current.is_some_and(|v| v >= version) {
            return Err(StoreError::Backend(format!(
                "model {} version {} is no longer newer than the installed release",
                model.model_id, model.version
            )));
        }
        tx.execute(
            "INSERT INTO model_state (model_id, version, sha256, accepted_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (model_id) DO UPDATE SET version = excluded.version,
                 sha256 = excluded.sha256, accepted_at = excluded.accepted_at",
            params![
                model.model_id,
                version,
                model.sha256,
                SystemClock.now_unix_seconds()
            ],
        )
        .context("recording the model state")?;
        tx.commit().context("committing the model state")
    }
}
