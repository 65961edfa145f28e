//! Re-sealing the whole database under a new field key, in one transaction: every
//! screening (new nonce, new reference tag, new associated data), the key check and every
//! integrity record. A crash leaves the database entirely under the old key or the new one.

use pulsecure_core::ports::audit::AuditEvent;
use pulsecure_core::ports::store::StoreError;
use rusqlite::params;

use crate::database::Database;
use crate::errors::SqliteContext;
use crate::field_cipher::FieldKey;
use crate::integrity::Integrity;
use crate::screenings::REF_TAG_LABEL;

impl Database {
    /// Re-seal everything under `new_key` and return the database opened with it.
    /// `progress(done, total)` is called after each screening. Every row must decrypt under
    /// the current key first; a corrupt row stops the rotation with nothing changed.
    pub fn rekey(
        self,
        new_key: FieldKey,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Database, StoreError> {
        let rows = self.all_rows_decrypted()?;
        let next = Database::with_keys(self.into_connection()?, new_key);
        {
            let mut conn = next.conn()?;
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .context("starting the key rotation")?;
            tx.execute("DELETE FROM screenings", params![])
                .context("re-sealing screenings")?;
            let total = rows.len();
            for (done, (id, model_id, version, payload)) in rows.into_iter().enumerate() {
                next.insert_sealed(&tx, Some(id), &model_id, version, &payload)?;
                progress(done + 1, total);
            }
            next.write_key_check(&tx)?;
            next.integrity.rewrite_all(&tx)?;
            next.append_audit(
                &tx,
                AuditEvent::KeysRotated,
                &format!("{total} screening(s) re-sealed under a new database key"),
            )?;
            tx.commit().context("committing the key rotation")?;
        }
        Ok(next)
    }

    /// A database around `conn` using `key` (no checks: for re-keying).
    fn with_keys(conn: rusqlite::Connection, key: FieldKey) -> Database {
        Database::from_parts(conn, key.derive(REF_TAG_LABEL), Integrity::new(&key), key)
    }
}
