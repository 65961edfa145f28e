//! Opening the database: pragmas, migrations, and the data-key check.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use pulsecure_core::ports::store::StoreError;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::errors::SqliteContext;
use crate::field_cipher::FieldKey;
use crate::schema::migrate;

const KEY_CHECK_NAME: &str = "key-check";
const KEY_CHECK_PLAIN: &[u8] = b"pulsecure database key check v1";

/// How long a writer waits for another process's lock before reporting `Locked`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// An open Pulsecure database. Shareable across threads (one connection behind a mutex;
/// SQLite serializes writers anyway).
pub struct Database {
    conn: Mutex<Connection>,
    pub(crate) key: FieldKey,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("key", &self.key).finish()
    }
}

impl Database {
    /// Open (creating if needed) the database at `path` with the vault's field key.
    ///
    /// Refuses a database from a newer schema, or one created under another data key.
    pub fn open(path: &Path, key: FieldKey) -> Result<Self, StoreError> {
        // SQLite reports a read-only file system as a generic I/O error; say it plainly.
        if path.exists() {
            if let Err(e) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
            {
                return Err(StoreError::Backend(format!(
                    "opening the database: {} is not writable ({e}); nothing was written",
                    path.display()
                )));
            }
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .context("opening the database")?;
        Self::configure(conn, key)
    }

    /// An in-memory database (tests, benchmarks).
    pub fn open_in_memory(key: FieldKey) -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().context("opening an in-memory database")?;
        Self::configure(conn, key)
    }

    fn configure(mut conn: Connection, key: FieldKey) -> Result<Self, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT)
            .context("setting the busy timeout")?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .context("enabling foreign keys")?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .context("enabling WAL")?;
        if mode != "wal" && mode != "memory" {
            return Err(StoreError::Backend(format!(
                "could not enable WAL journaling (got {mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .context("setting synchronous=FULL")?;
        migrate(&mut conn)?;
        let db = Database {
            conn: Mutex::new(conn),
            key,
        };
        db.check_key()?;
        db.reseal_legacy_payloads()?;
        Ok(db)
    }

    /// The first open stores a value sealed with the key; later opens must unseal it.
    fn check_key(&self) -> Result<(), StoreError> {
        let conn = self.conn()?;
        let stored: Option<Vec<u8>> = conn
            .query_row(
                "SELECT value FROM meta WHERE name = ?1",
                [KEY_CHECK_NAME],
                |row| row.get(0),
            )
            .optional()
            .context("reading the key check")?;
        match stored {
            Some(blob) if blob.len() > 12 => {
                let (nonce, sealed) = blob.split_at(12);
                match self.key.open(nonce, sealed, KEY_CHECK_NAME.as_bytes()) {
                    Some(plain) if plain == KEY_CHECK_PLAIN => Ok(()),
                    _ => Err(StoreError::WrongKey),
                }
            }
            Some(_) => Err(StoreError::WrongKey),
            None => {
                let (nonce, sealed) = self
                    .key
                    .seal(KEY_CHECK_PLAIN, KEY_CHECK_NAME.as_bytes())
                    .ok_or_else(|| StoreError::Backend("sealing the key check".into()))?;
                let mut blob = nonce.to_vec();
                blob.extend_from_slice(&sealed);
                conn.execute(
                    "INSERT INTO meta (name, value) VALUES (?1, ?2)",
                    rusqlite::params![KEY_CHECK_NAME, blob],
                )
                .context("writing the key check")?;
                Ok(())
            }
        }
    }

    /// The connection, for one repository call.
    pub(crate) fn conn(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Backend("database mutex poisoned by a panic".into()))
    }

    /// The schema version recorded in the file.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn()?
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .context("reading the schema version")
    }
}
