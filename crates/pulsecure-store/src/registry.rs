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
        let rowid: Option<i64> = tx
            .query_row(
                "SELECT rowid FROM model_state WHERE model_id = ?1",
                [&model.model_id],
                |row| row.get(0),
            )
            .optional()
            .context("reading the model state")?;
        let before = match rowid {
            Some(rowid) => self.integrity.tag_of(&tx, "model_state", rowid)?,
            None => None,
        };
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
        let rowid: i64 = tx
            .query_row(
                "SELECT rowid FROM model_state WHERE model_id = ?1",
                [&model.model_id],
                |row| row.get(0),
            )
            .context("reading the model state")?;
        self.integrity.changed(&tx, "model_state", rowid, before)?;
        tx.commit().context("committing the model state")
    }
}

impl Database {
    /// Every model id's accepted release, by model id.
    pub fn accepted_models(&self) -> Result<Vec<AcceptedModel>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare("SELECT model_id, version, sha256 FROM model_state ORDER BY model_id")
            .context("reading the model state")?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .context("reading the model state")?
            .collect::<Result<Vec<_>, _>>()
            .context("reading the model state")?;
        rows.into_iter()
            .map(|(model_id, version, sha256)| {
                Ok(AcceptedModel {
                    model_id,
                    version: u64::try_from(version)
                        .map_err(|_| StoreError::Backend("negative model version stored".into()))?,
                    sha256,
                })
            })
            .collect()
    }
}
