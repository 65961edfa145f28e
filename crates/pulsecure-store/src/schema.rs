//! Schema migrations (tracked in SQLite's `user_version`).

use pulsecure_core::ports::store::StoreError;
use rusqlite::Connection;
use rusqlite_migration::{Migrations, M};

use crate::errors::SqliteContext;

/// Version 1: screenings, model anti-rollback state, audit log, key check.
const V1: &str = "
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;
CREATE TABLE screenings (
    id            INTEGER PRIMARY KEY,
    created_at    INTEGER NOT NULL,
    model_id      TEXT    NOT NULL,
    model_version INTEGER NOT NULL,
    patient_ref   TEXT    NOT NULL,
    nonce         BLOB    NOT NULL,
    payload       BLOB    NOT NULL,
    UNIQUE (model_id, model_version, patient_ref)
) STRICT;
CREATE INDEX screenings_created_at ON screenings (created_at);
CREATE TABLE model_state (
    model_id    TEXT PRIMARY KEY,
    version     INTEGER NOT NULL CHECK (version >= 0),
    sha256      TEXT    NOT NULL CHECK (length(sha256) = 64),
    accepted_at INTEGER NOT NULL
) STRICT;
CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    event  TEXT    NOT NULL,
    detail TEXT    NOT NULL
) STRICT;
";

/// Version 2: publisher keys trusted in addition to the compiled-in release key.
const V2: &str = "
CREATE TABLE trusted_keys (
    key_id     TEXT PRIMARY KEY,
    public_key TEXT    NOT NULL,
    label      TEXT    NOT NULL,
    added_at   INTEGER NOT NULL
) STRICT;
";

/// Version 3: the differential-privacy budget and its ledger of releases.
const V3: &str = "
CREATE TABLE dp_budget (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    total        REAL    NOT NULL CHECK (total > 0),
    created_at   INTEGER NOT NULL
) STRICT;
CREATE TABLE dp_releases (
    id           INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,
    query        TEXT    NOT NULL,
    epsilon      REAL    NOT NULL CHECK (epsilon > 0),
    data_version TEXT    NOT NULL,
    result       TEXT
) STRICT;
CREATE INDEX dp_releases_query ON dp_releases (query, data_version);
";

/// Version 4: trust in a publisher key is scoped to model ids (one row per key and id).
/// Keys trusted before were trusted for the only model there was, `cvd-lr`.
const V4: &str = "
CREATE TABLE trusted_keys_scoped (
    key_id     TEXT    NOT NULL,
    model_id   TEXT    NOT NULL,
    public_key TEXT    NOT NULL,
    label      TEXT    NOT NULL,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (key_id, model_id)
) STRICT;
INSERT INTO trusted_keys_scoped (key_id, model_id, public_key, label, added_at)
    SELECT key_id, 'cvd-lr', public_key, label, added_at FROM trusted_keys;
DROP TABLE trusted_keys;
ALTER TABLE trusted_keys_scoped RENAME TO trusted_keys;
";

/// The newest schema version this build writes.
pub const SCHEMA_VERSION: i64 = 4;

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(V1), M::up(V2), M::up(V3), M::up(V4)])
}

/// Bring the schema up to date, refusing a database from a newer build.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .context("reading the schema version")?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    migrations()
        .to_latest(conn)
        .map_err(|e| StoreError::Backend(format!("schema migration failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        migrations().validate().expect("valid migrations");
    }
}
