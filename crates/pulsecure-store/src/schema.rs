//! Schema migrations (tracked in SQLite's `user_version`).

use pulsecure_core::ports::store::StoreError;
use std::sync::OnceLock;

use rusqlite::{Connection, OptionalExtension};
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

/// Version 5: nothing identifying in clear. The reference is sealed with the row and looked
/// up by its HMAC tag; the clear date is the UTC day (the exact time is sealed). The
/// schema-4 table is renamed and its rows are moved by `upgrade::move_schema_4_rows`, which
/// needs the field key and so cannot be SQL.
const V5: &str = "
DROP INDEX screenings_created_at;
ALTER TABLE screenings RENAME TO screenings_v4;
CREATE TABLE screenings (
    id            INTEGER PRIMARY KEY,
    created_day   INTEGER NOT NULL,
    model_id      TEXT    NOT NULL,
    model_version INTEGER NOT NULL,
    ref_tag       BLOB    NOT NULL CHECK (length(ref_tag) = 32),
    nonce         BLOB    NOT NULL,
    payload       BLOB    NOT NULL,
    UNIQUE (model_id, model_version, ref_tag)
) STRICT;
CREATE INDEX screenings_created_day ON screenings (created_day);
";

/// Version 6: screenings waiting in the PostgreSQL job queue (`queued_jobs.rs`): the only
/// map from an opaque job id to a patient, sealed like a screening.
const V6: &str = "
CREATE TABLE queued_jobs (
    id            INTEGER PRIMARY KEY,
    job_id        TEXT    NOT NULL UNIQUE CHECK (length(job_id) = 32),
    model_id      TEXT    NOT NULL,
    model_version INTEGER NOT NULL,
    ref_tag       BLOB    NOT NULL CHECK (length(ref_tag) = 32),
    nonce         BLOB    NOT NULL,
    payload       BLOB    NOT NULL,
    UNIQUE (model_id, model_version, ref_tag)
) STRICT;
";

/// Version 7: no table changes; rows are sealed with a status byte (screened or not
/// eligible, `sealed_payload.rs`) that a schema-6 build could not read, so it must refuse the
/// file as newer instead of calling such rows corrupt.
const V7: &str = "";

/// The table schema 5 renames the schema-4 screenings to until their rows are moved.
pub(crate) const SCHEMA_4_SCREENINGS: &str = "screenings_v4";

/// The newest schema version this build writes.
pub const SCHEMA_VERSION: i64 = 7;

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(V1),
        M::up(V2),
        M::up(V3),
        M::up(V4),
        M::up(V5),
        M::up(V6),
        M::up(V7),
    ])
}

/// One schema object: type, name, table, SQL.
type SchemaObject = (String, String, String, Option<String>);

/// SQLite's own tables that may appear in any database (`ANALYZE`, `AUTOINCREMENT`), each
/// allowed only with exactly this definition. Every other `sqlite_` object (the automatic
/// indexes of UNIQUE and PRIMARY KEY constraints) must be one the reference schema has.
const SQLITE_OWN: [(&str, &str); 3] = [
    ("sqlite_sequence", "CREATE TABLE sqlite_sequence(name,seq)"),
    ("sqlite_stat1", "CREATE TABLE sqlite_stat1(tbl,idx,stat)"),
    (
        "sqlite_stat4",
        "CREATE TABLE sqlite_stat4(tbl,idx,neq,nlt,ndlt,sample)",
    ),
];

/// Every row of `sqlite_schema`, SQLite's own objects included.
fn objects(conn: &Connection) -> Result<Vec<SchemaObject>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name")
        .context("reading the schema")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .context("reading the schema")?
        .collect::<Result<Vec<_>, _>>()
        .context("reading the schema")?;
    Ok(rows)
}

/// Whether `object` is one of SQLite's own tables with its exact definition.
fn is_sqlite_own(object: &SchemaObject) -> bool {
    let (kind, name, table, sql) = object;
    SQLITE_OWN.iter().any(|(own, definition)| {
        kind == "table" && name == own && table == own && sql.as_deref() == Some(*definition)
    })
}

/// The objects a database of this build holds: every migration run on an empty database.
fn expected_objects() -> Result<&'static [SchemaObject], StoreError> {
    static EXPECTED: OnceLock<Vec<SchemaObject>> = OnceLock::new();
    if let Some(found) = EXPECTED.get() {
        return Ok(found);
    }
    let mut conn = Connection::open_in_memory().context("building the reference schema")?;
    migrate(&mut conn)?;
    conn.execute_batch(&format!("DROP TABLE {SCHEMA_4_SCREENINGS}"))
        .context("building the reference schema")?;
    let objects = objects(&conn)?;
    Ok(EXPECTED.get_or_init(|| objects))
}

/// The refusal of an object Pulsecure does not define.
fn foreign(kind: &str, name: &str) -> StoreError {
    let why = if kind == "trigger" || kind == "view" {
        " (Pulsecure defines no triggers or views)"
    } else {
        ""
    };
    StoreError::Tampered(format!(
        "the database holds a {kind} named {name:?} that Pulsecure does not define{why}"
    ))
}

/// Refuse any trigger or view, whatever its name: code that would run inside Pulsecure's
/// own transactions (a trigger rewriting the ledger is then tagged as genuine). Checked
/// before anything is written, at any schema version, so not even a migration runs one.
pub(crate) fn refuse_triggers_and_views(conn: &Connection) -> Result<(), StoreError> {
    let code = conn
        .query_row(
            "SELECT type, name FROM sqlite_schema WHERE type IN ('trigger', 'view')
             ORDER BY type, name LIMIT 1",
            [],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()
        .context("reading the schema")?;
    match code {
        Some((kind, name)) => Err(foreign(&kind, &name)),
        None => Ok(()),
    }
}

/// Refuse a database whose schema differs from what this build defines, comparing every
/// row of `sqlite_schema`: an extra trigger or view (whatever its name: one could rewrite
/// the ledger on every insert), table or index, or a table whose definition was changed
/// (a dropped CHECK). SQLite's own objects pass only by exact name and definition.
pub(crate) fn check_objects(conn: &Connection) -> Result<(), StoreError> {
    refuse_triggers_and_views(conn)?;
    let expected = expected_objects()?;
    let found = objects(conn)?;
    for object in &found {
        if !expected.contains(object) && !is_sqlite_own(object) {
            let (kind, name, _, _) = object;
            if expected.iter().any(|(k, n, _, _)| k == kind && n == name) {
                return Err(StoreError::Tampered(format!(
                    "the definition of {kind} {name:?} was changed"
                )));
            }
            return Err(foreign(kind, name));
        }
    }
    if let Some((kind, name, _, _)) = expected.iter().find(|o| !found.contains(o)) {
        return Err(StoreError::Tampered(format!("{kind} {name:?} is missing")));
    }
    Ok(())
}

/// Bring the schema to `version` only (tests of upgrades from older databases).
#[cfg(test)]
pub(crate) fn migrate_to(conn: &mut Connection, version: usize) -> Result<(), StoreError> {
    migrations()
        .to_version(conn, version)
        .map_err(|e| StoreError::Backend(format!("schema migration failed: {e}")))
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
