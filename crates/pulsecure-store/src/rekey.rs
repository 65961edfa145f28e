//! Re-sealing the whole database under a new field key, in one transaction: every
//! screening (new nonce, new reference tag, new associated data), the key check and every
//! integrity record. A crash leaves the database entirely under the old key or the new one.

use pulsecure_core::ports::audit::AuditEvent;
use pulsecure_core::ports::store::StoreError;
use rusqlite::params;

use crate::database::Database;
use crate::errors::SqliteContext;
use crate::field_cipher::FieldKey;
use crate::field_cipher::REF_TAG_LABEL;
use crate::integrity::Integrity;
use crate::integrity_state::STATE_NAME;

impl Database {
    /// Re-seal everything under `new_key` and return the database opened with it.
    /// `progress(done, total)` is called after each screening. Every row must decrypt under
    /// the current key first; a corrupt row stops the rotation with nothing changed. The rows
    /// are read inside the same write transaction that re-seals them, so a screening another
    /// process saves meanwhile waits for the rotation instead of being lost.
    pub fn rekey(
        self,
        new_key: FieldKey,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Database, StoreError> {
        self.conn()?
            .execute_batch("BEGIN IMMEDIATE")
            .context("starting the key rotation")?;
        let read = self
            .all_rows_decrypted()
            .and_then(|rows| self.generation().map(|generation| (rows, generation)));
        let (rows, generation) = match read {
            Ok(read) => read,
            Err(e) => {
                let _ = self.conn()?.execute_batch("ROLLBACK");
                return Err(e);
            }
        };
        let next = Database::with_keys(self.into_connection()?, new_key);
        match next.reseal_all(rows, generation, progress) {
            Ok(()) => {
                next.conn()?
                    .execute_batch("COMMIT")
                    .context("committing the key rotation")?;
                Ok(next)
            }
            Err(e) => {
                let _ = next.conn()?.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Inside the caller's transaction: replace every screening by its re-sealed copy, then
    /// the key check and the integrity state (its generation continuing from `generation`,
    /// read under the old key), and log the rotation.
    fn reseal_all(
        &self,
        rows: Vec<(i64, String, u64, crate::sealed_payload::Payload)>,
        generation: u64,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<(), StoreError> {
        let conn = self.conn()?;
        conn.execute("DELETE FROM screenings", params![])
            .context("re-sealing screenings")?;
        // The state is sealed under the old key: the inserts start a new one, and the
        // rewrite below replaces it whole.
        conn.execute("DELETE FROM meta WHERE name = ?1", params![STATE_NAME])
            .context("re-sealing the integrity state")?;
        let total = rows.len();
        for (done, (id, model_id, version, payload)) in rows.into_iter().enumerate() {
            self.insert_sealed(&conn, Some(id), &model_id, version, &payload)?;
            progress(done + 1, total);
        }
        self.write_key_check(&conn)?;
        self.integrity.rewrite_all(&conn, generation + 1)?;
        self.append_audit(
            &conn,
            AuditEvent::KeysRotated,
            &format!("{total} screening(s) re-sealed under a new database key"),
        )
    }

    /// A database around `conn` using `key` (no checks: for re-keying).
    fn with_keys(conn: rusqlite::Connection, key: FieldKey) -> Database {
        Database::from_parts(conn, key.derive(REF_TAG_LABEL), Integrity::new(&key), key)
    }
}
