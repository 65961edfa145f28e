//! Integrity records for everything in the database that must not change without the
//! password: screenings, trusted publisher keys, the model anti-rollback state, the privacy
//! budget and ledger, and the audit log.
//!
//! Each row gets a tag, HMAC-SHA-256 under a key derived from the vault's field key over the
//! table name, the rowid and every column. Each table's digest (the XOR of its rows' tags,
//! its row count and its highest rowid) and a generation counter are kept in one sealed
//! record ([`crate::integrity_state`]). A write updates it in the same transaction in O(1)
//! (old tag out, new tag in, generation raised); opening the database recomputes every
//! digest. Whoever lacks the key cannot insert, change or delete a row, or make a state
//! that matches after doing so, nor combine one from older copies. (A chained head would
//! order the rows too, but costs O(n) per update of an old row, and order is already fixed
//! by the rowids inside the tags.)
//!
//! What no record inside the database can catch — the whole file replaced by an older copy
//! with its own valid state — is what the vault's record ([`crate::StateFloor`]) is for: it
//! holds the generation, which only rises.
//!
//! Databases of earlier builds kept one unkeyed head per table (`integrity:<table>`); they
//! are verified the old way once and upgraded to the sealed state ([`Heads::Legacy`]).

use pulsecure_core::ports::store::StoreError;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension};

use std::sync::atomic::{AtomicI64, Ordering};

use crate::errors::SqliteContext;
use crate::field_cipher::{FieldKey, MacKey};
use crate::integrity_state::{State, TableDigest, STATE_NAME};
use crate::protected_tables::{Protected, PROTECTED};
use crate::schema::check_objects;

const KEY_LABEL: &[u8] = b"pulsecure integrity records v1";
const STATE_KEY_LABEL: &[u8] = b"pulsecure integrity state key v2";
/// Prefix of the per-table heads of earlier builds (`integrity:<table>`).
const HEAD_PREFIX: &str = "integrity:";

/// What integrity records a database holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Heads {
    /// The sealed state is present and matches every table.
    Verified,
    /// No record at all: a database written before integrity records existed.
    Absent,
    /// The unkeyed per-table heads of an earlier build, every one present and matching:
    /// to be upgraded to the sealed state (if the vault's record allows).
    Legacy,
}

/// The integrity-record keys and the operations on the state.
pub(crate) struct Integrity {
    key: MacKey,
    state_key: FieldKey,
    /// `PRAGMA schema_version` when the schema was last checked (a write re-checks the
    /// schema when another connection changed it meanwhile).
    schema_checked: AtomicI64,
}

fn protected(table: &str) -> Result<(usize, &'static Protected), StoreError> {
    PROTECTED
        .iter()
        .enumerate()
        .find(|(_, p)| p.table == table)
        .ok_or_else(|| StoreError::Backend(format!("{table} has no integrity record")))
}

fn xor(a: &mut [u8; 32], b: &[u8; 32]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}

fn max_rowid(conn: &Connection, p: &Protected) -> Result<i64, StoreError> {
    conn.query_row(
        &format!("SELECT COALESCE(max(rowid), 0) FROM {}", p.table),
        [],
        |r| r.get(0),
    )
    .context("reading an integrity record")
}

fn altered(p: &Protected) -> StoreError {
    StoreError::Tampered(format!(
        "altered outside Pulsecure: {} (rows added, changed or deleted)",
        p.what
    ))
}

impl Integrity {
    /// The integrity keys derived from `key`.
    pub(crate) fn new(key: &FieldKey) -> Self {
        Integrity {
            key: key.derive(KEY_LABEL),
            state_key: key.derive_sealing(STATE_KEY_LABEL),
            schema_checked: AtomicI64::new(i64::MIN),
        }
    }

    /// The tag of a row read as `SELECT rowid, * …`.
    fn row_tag(&self, table: &str, row: &rusqlite::Row<'_>) -> rusqlite::Result<[u8; 32]> {
        let mut mac = self.key.hmac();
        use hmac::Mac;
        mac.update(&(table.len() as u64).to_be_bytes());
        mac.update(table.as_bytes());
        let columns = row.as_ref().column_count();
        for i in 0..columns {
            let (kind, bytes): (u8, Vec<u8>) = match row.get_ref(i)? {
                ValueRef::Null => (0, Vec::new()),
                ValueRef::Integer(v) => (1, v.to_be_bytes().to_vec()),
                ValueRef::Real(v) => (2, v.to_bits().to_be_bytes().to_vec()),
                ValueRef::Text(t) => (3, t.to_vec()),
                ValueRef::Blob(b) => (4, b.to_vec()),
            };
            mac.update(&[kind]);
            mac.update(&(bytes.len() as u64).to_be_bytes());
            mac.update(&bytes);
        }
        Ok(mac.finalize().into_bytes().into())
    }

    /// The tag of one row, `None` if there is no such row.
    pub(crate) fn tag_of(
        &self,
        conn: &Connection,
        table: &str,
        rowid: i64,
    ) -> Result<Option<[u8; 32]>, StoreError> {
        let (_, p) = protected(table)?;
        conn.query_row(
            &format!("SELECT rowid, * FROM {} WHERE rowid = ?1", p.table),
            [rowid],
            |row| self.row_tag(p.table, row),
        )
        .optional()
        .context("reading an integrity tag")
    }

    /// The digest computed from a table's rows.
    fn computed(&self, conn: &Connection, p: &Protected) -> Result<TableDigest, StoreError> {
        let mut stmt = conn
            .prepare(&format!("SELECT rowid, * FROM {}", p.table))
            .context("reading for the integrity check")?;
        let mut rows = stmt.query([]).context("reading for the integrity check")?;
        let mut digest = TableDigest::default();
        while let Some(row) = rows.next().context("reading for the integrity check")? {
            let tag = self
                .row_tag(p.table, row)
                .context("reading for the integrity check")?;
            let rowid: i64 = row.get(0).context("reading for the integrity check")?;
            xor(&mut digest.xor, &tag);
            digest.rows += 1;
            digest.max_rowid = digest.max_rowid.max(rowid);
        }
        Ok(digest)
    }

    /// Refuse a write when another connection changed the schema since it was last
    /// checked (a trigger planted while this process runs would already have fired inside
    /// the caller's transaction, which the error rolls back).
    fn schema_unchanged(&self, conn: &Connection) -> Result<(), StoreError> {
        let version: i64 = conn
            .query_row("PRAGMA schema_version", [], |r| r.get(0))
            .context("reading the schema version")?;
        if self.schema_checked.load(Ordering::Relaxed) != version {
            check_objects(conn)?;
            self.schema_checked.store(version, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The stored state, or an empty one at generation 0 if there is none (a database
    /// being upgraded or re-keyed: its state is rewritten before the transaction ends).
    fn current(&self, conn: &Connection) -> Result<State, StoreError> {
        Ok(State::read(conn, &self.state_key)?.unwrap_or_default())
    }

    /// Record that the row `rowid` of `table` changed from the tag `before` (`None`: it did
    /// not exist) to what it holds now (or nothing, if deleted), and raise the generation.
    /// Call inside the writing transaction.
    pub(crate) fn changed(
        &self,
        conn: &Connection,
        table: &str,
        rowid: i64,
        before: Option<[u8; 32]>,
    ) -> Result<(), StoreError> {
        self.schema_unchanged(conn)?;
        let (index, p) = protected(table)?;
        let mut state = self.current(conn)?;
        let digest = &mut state.tables[index];
        if let Some(old) = before {
            xor(&mut digest.xor, &old);
            digest.rows = digest.rows.saturating_sub(1);
        }
        if let Some(new) = self.tag_of(conn, p.table, rowid)? {
            xor(&mut digest.xor, &new);
            digest.rows += 1;
        }
        digest.max_rowid = max_rowid(conn, p)?;
        state.generation += 1;
        state.write(conn, &self.state_key)
    }

    /// Raise the generation of a write transaction that changes no protected row (queued
    /// jobs), so that an older copy of the file is still behind the vault's record.
    pub(crate) fn bump(&self, conn: &Connection) -> Result<(), StoreError> {
        self.schema_unchanged(conn)?;
        let mut state = self.current(conn)?;
        state.generation += 1;
        state.write(conn, &self.state_key)
    }

    /// The generation of the stored state (0 if there is none).
    pub(crate) fn generation(&self, conn: &Connection) -> Result<u64, StoreError> {
        Ok(self.current(conn)?.generation)
    }

    /// Recompute every digest and store the state at `generation`, removing the heads of
    /// earlier builds (a new database, an upgraded one, or after every row was re-sealed
    /// under a new key).
    pub(crate) fn rewrite_all(&self, conn: &Connection, generation: u64) -> Result<(), StoreError> {
        let mut state = State {
            generation,
            ..State::default()
        };
        for (digest, p) in state.tables.iter_mut().zip(&PROTECTED) {
            *digest = self.computed(conn, p)?;
        }
        state.write(conn, &self.state_key)?;
        conn.execute(
            "DELETE FROM meta WHERE name LIKE 'integrity:%' AND name <> ?1",
            [STATE_NAME],
        )
        .context("removing the heads of an earlier build")?;
        Ok(())
    }

    /// Like [`Integrity::rewrite_all`], at least at `generation` and above the stored
    /// state's when it opens (another process may have written it meanwhile).
    pub(crate) fn rewrite_from(
        &self,
        conn: &Connection,
        generation: u64,
    ) -> Result<(), StoreError> {
        let stored = match State::read(conn, &self.state_key) {
            Ok(Some(state)) => state.generation + 1,
            _ => 0,
        };
        self.rewrite_all(conn, generation.max(stored))
    }

    /// What each protected table holds whose digest does not match the sealed state, or
    /// "the integrity state" itself when it is missing or does not open (for `db check`,
    /// which reports rather than refuses).
    pub(crate) fn mismatches(&self, conn: &Connection) -> Result<Vec<&'static str>, StoreError> {
        let state = match State::read(conn, &self.state_key) {
            Ok(Some(state)) => state,
            Ok(None) | Err(StoreError::Tampered(_)) => return Ok(vec!["the integrity state"]),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for (stored, p) in state.tables.iter().zip(&PROTECTED) {
            if *stored != self.computed(conn, p)? {
                out.push(p.what);
            }
        }
        Ok(out)
    }

    /// Recompute every digest and compare it with the sealed state, naming the first table
    /// that differs; without a state, verify the heads of an earlier build if there are any.
    pub(crate) fn verify_all(&self, conn: &Connection) -> Result<Heads, StoreError> {
        match State::read(conn, &self.state_key)? {
            Some(state) => {
                for (stored, p) in state.tables.iter().zip(&PROTECTED) {
                    if *stored != self.computed(conn, p)? {
                        return Err(altered(p));
                    }
                }
                Ok(Heads::Verified)
            }
            None => self.verify_legacy(conn),
        }
    }

    /// The per-table heads of an earlier build: all present and matching (`Legacy`), none
    /// (`Absent`), or refused. Some heads present and others missing is tampering too.
    fn verify_legacy(&self, conn: &Connection) -> Result<Heads, StoreError> {
        let mut missing = Vec::new();
        for p in &PROTECTED {
            let stored: Option<Vec<u8>> = conn
                .query_row(
                    "SELECT value FROM meta WHERE name = ?1",
                    [format!("{HEAD_PREFIX}{}", p.table)],
                    |row| row.get(0),
                )
                .optional()
                .context("reading an integrity record")?;
            match stored {
                None => missing.push(p.what),
                Some(head) if head.as_slice() == self.computed(conn, p)?.xor => {}
                Some(_) => return Err(altered(p)),
            }
        }
        match missing.len() {
            0 => Ok(Heads::Legacy),
            n if n == PROTECTED.len() => Ok(Heads::Absent),
            _ => Err(StoreError::Tampered(format!(
                "integrity records deleted: {}",
                missing.join(", ")
            ))),
        }
    }

    /// Write the per-table heads an earlier build kept (tests of the upgrade).
    #[cfg(test)]
    pub(crate) fn write_legacy_heads(&self, conn: &Connection) -> Result<(), StoreError> {
        conn.execute("DELETE FROM meta WHERE name = ?1", [STATE_NAME])
            .context("removing the state")?;
        for p in &PROTECTED {
            conn.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)",
                rusqlite::params![
                    format!("{HEAD_PREFIX}{}", p.table),
                    self.computed(conn, p)?.xor.to_vec()
                ],
            )
            .context("writing a head")?;
        }
        Ok(())
    }
}
