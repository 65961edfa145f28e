//! The integrity state: for each protected table the XOR of its rows' tags, its row count
//! and its highest rowid, plus a generation counter raised by every write transaction —
//! sealed as one AES-256-GCM record in `meta` under a key derived from the vault's field
//! key.
//!
//! Sealing (not only a MAC) keeps the XORs secret: with the per-table XORs in clear, two
//! older copies of the file gave away single row tags (the XOR of their heads), and enough
//! known tags let one rebuild a head for a chosen set of rows. Without the key, no state
//! can be made, changed, or combined from older ones; an older state, replayed whole, is
//! what the vault's floor catches by its generation.

use pulsecure_core::ports::store::StoreError;
use rusqlite::{params, Connection, OptionalExtension};

use crate::errors::SqliteContext;
use crate::field_cipher::FieldKey;
use crate::protected_tables::PROTECTED;

/// Name of the state's row in `meta` (under the prefix the per-table heads of earlier
/// builds used, so removing "the integrity records" removes it too).
pub(crate) const STATE_NAME: &str = "integrity:state";

/// Associated data of the sealed state.
const AAD: &[u8] = b"pulsecure integrity state v2";

/// First byte of the encoding.
const FORMAT: u8 = 2;

/// One table's digest: what its rows add up to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TableDigest {
    /// XOR of the rows' tags.
    pub xor: [u8; 32],
    /// Number of rows.
    pub rows: u64,
    /// Highest rowid (0 for an empty table).
    pub max_rowid: i64,
}

/// The sealed record: every protected table's digest, in [`PROTECTED`] order, and the
/// generation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct State {
    /// Raised by every write transaction; never lowered.
    pub generation: u64,
    /// One digest per protected table.
    pub tables: [TableDigest; PROTECTED.len()],
}

const ENTRY_LEN: usize = 32 + 8 + 8;

impl State {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 8 + ENTRY_LEN * PROTECTED.len());
        out.push(FORMAT);
        out.extend_from_slice(&self.generation.to_be_bytes());
        for t in &self.tables {
            out.extend_from_slice(&t.xor);
            out.extend_from_slice(&t.rows.to_be_bytes());
            out.extend_from_slice(&t.max_rowid.to_be_bytes());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 1 + 8 + ENTRY_LEN * PROTECTED.len() || bytes[0] != FORMAT {
            return None;
        }
        let mut state = State {
            generation: u64::from_be_bytes(bytes[1..9].try_into().ok()?),
            ..State::default()
        };
        for (t, chunk) in state.tables.iter_mut().zip(bytes[9..].chunks(ENTRY_LEN)) {
            t.xor = chunk[..32].try_into().ok()?;
            t.rows = u64::from_be_bytes(chunk[32..40].try_into().ok()?);
            t.max_rowid = i64::from_be_bytes(chunk[40..48].try_into().ok()?);
        }
        Some(state)
    }

    /// The stored state: `None` if there is none; refused if it does not open under `key`
    /// (forged, damaged, or written under another key).
    pub(crate) fn read(conn: &Connection, key: &FieldKey) -> Result<Option<State>, StoreError> {
        let blob: Option<Vec<u8>> = conn
            .query_row(
                "SELECT value FROM meta WHERE name = ?1",
                [STATE_NAME],
                |row| row.get(0),
            )
            .optional()
            .context("reading the integrity state")?;
        let Some(blob) = blob else {
            return Ok(None);
        };
        blob.get(..12)
            .and_then(|nonce| key.open(nonce, &blob[12..], AAD))
            .and_then(|plain| State::decode(&plain))
            .map(Some)
            .ok_or_else(|| {
                StoreError::Tampered(
                    "integrity records forged or damaged: the integrity state does not open \
                     under the vault's key"
                        .into(),
                )
            })
    }

    /// Seal and store the state (inside the caller's transaction).
    pub(crate) fn write(&self, conn: &Connection, key: &FieldKey) -> Result<(), StoreError> {
        let (nonce, sealed) = key
            .seal(&self.encode(), AAD)
            .ok_or_else(|| StoreError::Backend("sealing the integrity state failed".into()))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        conn.execute(
            "INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)",
            params![STATE_NAME, blob],
        )
        .context("writing the integrity state")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_refuses_other_keys_and_edits() {
        let conn = Connection::open_in_memory().expect("db");
        conn.execute_batch("CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL)")
            .expect("meta");
        let key = FieldKey::from_bytes([1; 32]);
        assert_eq!(State::read(&conn, &key).expect("read"), None);
        let mut state = State {
            generation: 7,
            ..State::default()
        };
        state.tables[2] = TableDigest {
            xor: [9; 32],
            rows: 3,
            max_rowid: 4,
        };
        state.write(&conn, &key).expect("write");
        assert_eq!(State::read(&conn, &key).expect("read"), Some(state));
        assert!(matches!(
            State::read(&conn, &FieldKey::from_bytes([2; 32])),
            Err(StoreError::Tampered(_))
        ));
        conn.execute(
            "UPDATE meta SET value = zeroblob(length(value)) WHERE name = ?1",
            [STATE_NAME],
        )
        .expect("forge");
        assert!(matches!(
            State::read(&conn, &key),
            Err(StoreError::Tampered(_))
        ));
    }
}
