//! Publisher keys trusted beyond the compiled-in release key (added only by an explicit,
//! audited command).

use pulsecure_core::ports::clock::{Clock, SystemClock};
use pulsecure_core::ports::store::StoreError;
use rusqlite::params;

use crate::database::Database;
use crate::errors::SqliteContext;

/// A stored trust entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedKeyRecord {
    /// minisign key id (hex).
    pub key_id: String,
    /// The model id this key may publish.
    pub model_id: String,
    /// The key's base64 line.
    pub public_key: String,
    /// Who or what it is, as given when it was added.
    pub label: String,
    /// Unix seconds.
    pub added_at: i64,
}

impl Database {
    /// Every trust entry (one per key and model id), oldest first.
    pub fn trusted_keys(&self) -> Result<Vec<TrustedKeyRecord>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare(
                "SELECT key_id, model_id, public_key, label, added_at FROM trusted_keys
                 ORDER BY added_at, key_id, model_id",
            )
            .context("reading trusted keys")?;
        let rows = stmt
            .query_map([], |row| {
                Ok(TrustedKeyRecord {
                    key_id: row.get(0)?,
                    model_id: row.get(1)?,
                    public_key: row.get(2)?,
                    label: row.get(3)?,
                    added_at: row.get(4)?,
                })
            })
            .context("reading trusted keys")?
            .collect::<Result<Vec<_>, _>>()
            .context("reading trusted keys")?;
        Ok(rows)
    }

    /// Trust a key to publish `model_id`; returns false if it already was.
    pub fn add_trusted_key(
        &self,
        key_id: &str,
        model_id: &str,
        public_key: &str,
        label: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .context("starting a transaction")?;
        let changed = tx
            .execute(
                "INSERT OR IGNORE INTO trusted_keys (key_id, model_id, public_key, label, added_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    key_id,
                    model_id,
                    public_key,
                    label,
                    SystemClock.now_unix_seconds()
                ],
            )
            .context("adding a trusted key")?;
        if changed == 1 {
            self.integrity
                .changed(&tx, "trusted_keys", tx.last_insert_rowid(), None)?;
        }
        tx.commit().context("adding a trusted key")?;
        Ok(changed == 1)
    }
}
