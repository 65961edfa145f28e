//! Opening the database: pragmas, migrations, and the data-key check.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::ports::store::StoreError;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::errors::SqliteContext;
use crate::field_cipher::{FieldKey, MacKey, REF_TAG_LABEL};
use crate::integrity::{Heads, Integrity};
use crate::protected_tables::PROTECTED;
use crate::rollback_floor::{Opened, StateFloor};
use crate::schema::{check_objects, migrate, refuse_triggers_and_views};

pub(crate) const KEY_CHECK_NAME: &str = "key-check";
pub(crate) const KEY_CHECK_PLAIN: &[u8] = b"pulsecure database key check v1";

/// How long a writer waits for another process's lock before reporting `Locked`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// An open Pulsecure database. Shareable across threads (one connection behind a mutex;
/// SQLite serializes writers anyway).
pub struct Database {
    conn: Mutex<Connection>,
    pub(crate) key: FieldKey,
    pub(crate) ref_key: MacKey,
    pub(crate) integrity: Integrity,
    opened: Opened,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("key", &self.key).finish()
    }
}

impl Database {
    /// Open (creating if needed) the database at `path` with the vault's field key, with no
    /// vault record to compare against (tools and tests; a database without integrity
    /// records is adopted). See [`Database::open_checked`].
    pub fn open(path: &Path, key: FieldKey) -> Result<Self, StoreError> {
        Self::open_checked(path, key, None)
    }

    /// Open (creating if needed) the database at `path` with the vault's field key and the
    /// vault's record of its state (`None`: the vault has none yet).
    ///
    /// Refuses a database from a newer schema, one created under another data key, one
    /// whose schema holds objects this build does not define, one whose integrity records
    /// do not match its rows, and one behind `floor`. A missing database is created and
    /// gets `floor` carried over ([`Opened::recreated`]).
    pub fn open_checked(
        path: &Path,
        key: FieldKey,
        floor: Option<&StateFloor>,
    ) -> Result<Self, StoreError> {
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
        Self::configure(conn, key, floor)
    }

    /// An in-memory database (tests, benchmarks).
    pub fn open_in_memory(key: FieldKey) -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().context("opening an in-memory database")?;
        Self::configure(conn, key, None)
    }

    fn configure(
        mut conn: Connection,
        key: FieldKey,
        floor: Option<&StateFloor>,
    ) -> Result<Self, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT)
            .context("setting the busy timeout")?;
        // Defensive mode: no `writable_schema`, no schema-cookie writes, no other
        // connection-level way to corrupt the file from SQL. `trusted_schema` off: whatever
        // the schema holds cannot call functions with side effects.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)
            .context("enabling SQLite's defensive mode")?;
        conn.pragma_update(None, "trusted_schema", "OFF")
            .context("turning trusted_schema off")?;
        // Before anything is written (a migration included): no trigger or view may run.
        refuse_triggers_and_views(&conn)?;
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
        let mut db =
            Database::from_parts(conn, key.derive(REF_TAG_LABEL), Integrity::new(&key), key);
        let fresh = db.check_key()?;
        db.move_schema_4_rows()?;
        db.opened = db.anchor(fresh, floor)?;
        Ok(db)
    }

    /// Assemble a database from an open connection and its keys.
    pub(crate) fn from_parts(
        conn: Connection,
        ref_key: MacKey,
        integrity: Integrity,
        key: FieldKey,
    ) -> Database {
        Database {
            conn: Mutex::new(conn),
            key,
            ref_key,
            integrity,
            opened: Opened::default(),
        }
    }

    /// The connection back, for re-keying.
    pub(crate) fn into_connection(self) -> Result<Connection, StoreError> {
        self.conn
            .into_inner()
            .map_err(|_| StoreError::Backend("database mutex poisoned by a panic".into()))
    }

    /// Check the schema and the integrity records, then relate the database to the vault's
    /// record: verify it is not behind, carry it over into a new database, or adopt a
    /// database from before integrity records when the vault has no record either.
    fn anchor(&self, fresh: bool, floor: Option<&StateFloor>) -> Result<Opened, StoreError> {
        // One read transaction: every head and every row from the same snapshot, so a
        // screening another process commits meanwhile cannot look like tampering.
        let heads = {
            let mut conn = self.conn()?;
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)
                .context("starting the integrity check")?;
            check_objects(&tx)?;
            let heads = self.integrity.verify_all(&tx)?;
            tx.commit().context("ending the integrity check")?;
            heads
        };
        let mut opened = Opened::default();
        let recorded = floor.map_or(0, |f| f.generation);
        match heads {
            Heads::Verified => {}
            Heads::Absent if fresh => {
                if self.holds_rows()? {
                    return Err(StoreError::Tampered(
                        "the key check was deleted from a database that holds records".into(),
                    ));
                }
                // Carried over, the generation continues from the vault's record.
                self.rewrite_heads(recorded + 1)?;
                if let Some(floor) = floor {
                    self.carry_over(floor)?;
                    opened.recreated = true;
                }
            }
            Heads::Absent => {
                if floor.is_some() {
                    return Err(StoreError::Tampered(
                        "integrity records deleted: all of them".into(),
                    ));
                }
                self.rewrite_heads(1)?;
                self.log_event(
                    AuditEvent::IntegrityAdopted,
                    "integrity records created for a database written before them",
                )?;
                opened.adopted = true;
            }
            Heads::Legacy => {
                // Heads of an earlier build: only a vault that never recorded a generation
                // (written by that build too) may still see them.
                if recorded > 0 {
                    return Err(StoreError::Tampered(format!(
                        "integrity records replaced by the unauthenticated format of an \
                         earlier build, but the vault recorded the sealed state (generation \
                         {recorded})"
                    )));
                }
                self.rewrite_heads(1)?;
                self.log_event(
                    AuditEvent::IntegrityAdopted,
                    "integrity records of an earlier build upgraded to one sealed state",
                )?;
                opened.upgraded = true;
            }
        }
        if let Some(floor) = floor {
            self.check_floor(floor)?;
        }
        Ok(opened)
    }

    /// Compute every digest and store the state, at `generation` at least, in one write
    /// transaction.
    fn rewrite_heads(&self, generation: u64) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .context("starting a transaction")?;
        self.integrity.rewrite_from(&tx, generation)?;
        tx.commit().context("writing the integrity records")
    }

    /// The generation of the integrity state: raised by every write transaction.
    pub(crate) fn generation(&self) -> Result<u64, StoreError> {
        let conn = self.conn()?;
        self.integrity.generation(&conn)
    }

    /// Whether any protected table holds a row.
    fn holds_rows(&self) -> Result<bool, StoreError> {
        let conn = self.conn()?;
        for p in &PROTECTED {
            let any: bool = conn
                .query_row(
                    &format!("SELECT EXISTS (SELECT 1 FROM {})", p.table),
                    [],
                    |r| r.get(0),
                )
                .context("reading the database")?;
            if any {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// What opening found (re-created, adopted).
    pub fn opened(&self) -> Opened {
        self.opened
    }

    /// The first open stores a value sealed with the key; later opens must unseal it.
    /// Returns whether this open created it (a new database).
    fn check_key(&self) -> Result<bool, StoreError> {
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
                    Some(plain) if plain == KEY_CHECK_PLAIN => Ok(false),
                    _ => Err(StoreError::WrongKey),
                }
            }
            Some(_) => Err(StoreError::WrongKey),
            None => {
                self.write_key_check(&conn)?;
                Ok(true)
            }
        }
    }

    /// Store (or replace) the value sealed with the key that later opens check.
    pub(crate) fn write_key_check(&self, conn: &Connection) -> Result<(), StoreError> {
        let (nonce, sealed) = self
            .key
            .seal(KEY_CHECK_PLAIN, KEY_CHECK_NAME.as_bytes())
            .ok_or_else(|| StoreError::Backend("sealing the key check".into()))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        conn.execute(
            "INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)",
            rusqlite::params![KEY_CHECK_NAME, blob],
        )
        .context("writing the key check")?;
        Ok(())
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
