//! Integrity records for everything in the database that must not change without the
//! password: screenings, trusted publisher keys, the model anti-rollback state, the privacy
//! budget and ledger, and the audit log.
//!
//! Each row gets a tag, HMAC-SHA-256 under a key derived from the vault's field key over the
//! table name, the rowid and every column. A table's *head* is the XOR of its rows' tags,
//! kept in `meta`. A write updates the head in the same transaction in O(1) (old tag out,
//! new tag in); opening the database recomputes every head. Whoever lacks the key cannot
//! insert, change or delete a row, or fix the head after doing so, without the next open
//! noticing. (A chained head would order the rows too, but costs O(n) per update of an old
//! row, and order is already fixed by the rowids inside the tags.)
//!
//! What no record inside the database can catch — the whole file replaced by an older copy
//! with its own valid heads — is what the vault's record ([`crate::StateFloor`]) is for.

use pulsecure_core::ports::store::StoreError;
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension};

use crate::errors::SqliteContext;
use crate::field_cipher::{FieldKey, MacKey};

/// One protected table and how an error names it.
pub(crate) struct Protected {
    /// Table name.
    pub table: &'static str,
    /// What the table holds, for error messages.
    pub what: &'static str,
}

/// The protected tables.
pub(crate) const PROTECTED: [Protected; 6] = [
    Protected {
        table: "screenings",
        what: "the stored screenings",
    },
    Protected {
        table: "trusted_keys",
        what: "the trusted publisher keys",
    },
    Protected {
        table: "model_state",
        what: "the model anti-rollback state",
    },
    Protected {
        table: "dp_budget",
        what: "the privacy budget",
    },
    Protected {
        table: "dp_releases",
        what: "the privacy ledger",
    },
    Protected {
        table: "audit_log",
        what: "the audit log",
    },
];

const KEY_LABEL: &[u8] = b"pulsecure integrity records v1";
const HEAD_PREFIX: &str = "integrity:";

/// Whether every protected table has a head in `meta`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Heads {
    /// Every head is present and matches its table.
    Verified,
    /// No head at all: a database written before integrity records existed.
    Absent,
}

/// How one table's stored head relates to its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HeadStatus {
    Matches,
    Differs,
    Missing,
}

/// The integrity-record key and the operations on heads.
pub(crate) struct Integrity {
    key: MacKey,
}

fn protected(table: &str) -> Result<&'static Protected, StoreError> {
    PROTECTED
        .iter()
        .find(|p| p.table == table)
        .ok_or_else(|| StoreError::Backend(format!("{table} has no integrity record")))
}

fn xor(a: &mut [u8; 32], b: &[u8; 32]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}

impl Integrity {
    /// The integrity key derived from `key`.
    pub(crate) fn new(key: &FieldKey) -> Self {
        Integrity {
            key: key.derive(KEY_LABEL),
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
        let p = protected(table)?;
        conn.query_row(
            &format!("SELECT rowid, * FROM {} WHERE rowid = ?1", p.table),
            [rowid],
            |row| self.row_tag(p.table, row),
        )
        .optional()
        .context("reading an integrity tag")
    }

    /// The head computed from a table's rows.
    fn computed_head(&self, conn: &Connection, p: &Protected) -> Result<[u8; 32], StoreError> {
        let mut stmt = conn
            .prepare(&format!("SELECT rowid, * FROM {}", p.table))
            .context("reading for the integrity check")?;
        let mut rows = stmt.query([]).context("reading for the integrity check")?;
        let mut head = [0u8; 32];
        while let Some(row) = rows.next().context("reading for the integrity check")? {
            let tag = self
                .row_tag(p.table, row)
                .context("reading for the integrity check")?;
            xor(&mut head, &tag);
        }
        Ok(head)
    }

    fn stored_head(conn: &Connection, table: &str) -> Result<Option<Vec<u8>>, StoreError> {
        conn.query_row(
            "SELECT value FROM meta WHERE name = ?1",
            [format!("{HEAD_PREFIX}{table}")],
            |row| row.get(0),
        )
        .optional()
        .context("reading an integrity record")
    }

    fn write_head(conn: &Connection, table: &str, head: &[u8; 32]) -> Result<(), StoreError> {
        conn.execute(
            "INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)",
            params![format!("{HEAD_PREFIX}{table}"), head.to_vec()],
        )
        .context("writing an integrity record")?;
        Ok(())
    }

    /// Record that the row `rowid` of `table` changed from the tag `before` (`None`: it did
    /// not exist) to what it holds now (or nothing, if deleted). Call inside the writing
    /// transaction.
    pub(crate) fn changed(
        &self,
        conn: &Connection,
        table: &str,
        rowid: i64,
        before: Option<[u8; 32]>,
    ) -> Result<(), StoreError> {
        let p = protected(table)?;
        let mut head: [u8; 32] = match Self::stored_head(conn, p.table)? {
            Some(bytes) => bytes.as_slice().try_into().map_err(|_| {
                StoreError::Tampered(format!("integrity record damaged: {}", p.what))
            })?,
            None => [0u8; 32],
        };
        if let Some(old) = before {
            xor(&mut head, &old);
        }
        if let Some(new) = self.tag_of(conn, p.table, rowid)? {
            xor(&mut head, &new);
        }
        Self::write_head(conn, p.table, &head)
    }

    /// Recompute and store every head (a new database, an upgraded one, or after every row
    /// was re-sealed under a new key).
    pub(crate) fn rewrite_all(&self, conn: &Connection) -> Result<(), StoreError> {
        for p in &PROTECTED {
            let head = self.computed_head(conn, p)?;
            Self::write_head(conn, p.table, &head)?;
        }
        Ok(())
    }

    /// Whether a table's stored head is missing, or matches the head of its rows.
    fn head_status(&self, conn: &Connection, p: &Protected) -> Result<HeadStatus, StoreError> {
        Ok(match Self::stored_head(conn, p.table)? {
            None => HeadStatus::Missing,
            Some(stored) if stored.as_slice() == self.computed_head(conn, p)? => {
                HeadStatus::Matches
            }
            Some(_) => HeadStatus::Differs,
        })
    }

    /// What each protected table holds whose head is missing or does not match (for
    /// `db check`, which reports rather than refuses).
    pub(crate) fn mismatches(&self, conn: &Connection) -> Result<Vec<&'static str>, StoreError> {
        let mut out = Vec::new();
        for p in &PROTECTED {
            if self.head_status(conn, p)? != HeadStatus::Matches {
                out.push(p.what);
            }
        }
        Ok(out)
    }

    /// Recompute every head and compare it with the stored one, naming the first table
    /// that differs. Some heads present and others missing is tampering too.
    pub(crate) fn verify_all(&self, conn: &Connection) -> Result<Heads, StoreError> {
        let mut missing = Vec::new();
        for p in &PROTECTED {
            match self.head_status(conn, p)? {
                HeadStatus::Matches => {}
                HeadStatus::Missing => missing.push(p.what),
                HeadStatus::Differs => {
                    return Err(StoreError::Tampered(format!(
                        "altered outside Pulsecure: {} (rows added, changed or deleted)",
                        p.what
                    )))
                }
            }
        }
        match missing.len() {
            0 => Ok(Heads::Verified),
            n if n == PROTECTED.len() => Ok(Heads::Absent),
            _ => Err(StoreError::Tampered(format!(
                "integrity records deleted: {}",
                missing.join(", ")
            ))),
        }
    }
}
