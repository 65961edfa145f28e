//! Forgeries of the database by someone who can write the file but holds no key (issue 30,
//! item 3): code hidden in the schema, integrity records rebuilt from older copies, one
//! table or the whole file rolled back. Each is refused when the database is opened against
//! the vault's record, as the application opens it.

use std::path::{Path, PathBuf};

use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::ports::privacy::BudgetLedger;
use pulsecure_core::ports::store::{ScreeningRecord, ScreeningStore, StoreError};
use pulsecure_core::{PatientRef, RiskAssessment, RiskClass};
use pulsecure_store::{Database, FieldKey, StateFloor};
use rusqlite::Connection;

fn key() -> FieldKey {
    FieldKey::from_bytes([0x5a; 32])
}

fn record(patient_ref: &str, created_at: i64, class: RiskClass) -> ScreeningRecord {
    ScreeningRecord {
        patient_ref: PatientRef::parse(patient_ref).expect("valid reference"),
        created_at,
        features: vec![61.0, 1.0, 140.0, 0.0, 1.07, 101.5, 0.0, 210.0, 1.0],
        assessment: RiskAssessment {
            probability_code: if class == RiskClass::High { 2662 } else { 20 },
            probability: 0.0,
            class,
            model_id: "cvd-lr".into(),
            model_version: 1,
        },
        status: pulsecure_core::ports::store::RecordStatus::Screened,
    }
}

/// A data directory's database and the copies an attacker kept of it.
struct Files {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        Files { _dir: dir, root }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn db(&self) -> PathBuf {
        self.path("pulsecure.db")
    }

    /// A copy of the (closed, checkpointed) database file.
    fn keep(&self, name: &str) -> PathBuf {
        let to = self.path(name);
        std::fs::copy(self.db(), &to).expect("copy the database");
        to
    }

    /// Replace the database with `from`.
    fn restore(&self, from: &Path) {
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.db().display()));
        }
        std::fs::copy(from, self.db()).expect("restore");
    }
}

fn open(path: &Path) -> Database {
    Database::open(path, key()).expect("open")
}

/// Open as the application does, against the vault's record.
fn open_against(path: &Path, floor: &StateFloor) -> Result<Database, StoreError> {
    Database::open_checked(path, key(), Some(floor))
}

fn raw(path: &Path) -> Connection {
    Connection::open(path).expect("raw connection")
}

/// Rows of `meta` as (name, value).
type MetaRows = Vec<(String, Vec<u8>)>;

/// The `meta` table.
fn meta(path: &Path) -> MetaRows {
    let conn = raw(path);
    let mut stmt = conn
        .prepare("SELECT name, value FROM meta ORDER BY name")
        .expect("prepare");
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<Vec<_>, _>>()
        .expect("rows");
    rows
}

fn set_meta(path: &Path, name: &str, value: &[u8]) {
    raw(path)
        .execute(
            "INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)",
            rusqlite::params![name, value],
        )
        .expect("write meta");
}

fn xor3(a: &[u8], b: &[u8], c: &[u8]) -> Vec<u8> {
    a.iter()
        .zip(b)
        .zip(c)
        .map(|((x, y), z)| x ^ y ^ z)
        .collect()
}

/// Every way the attacker can rebuild `meta` of `tampered` from what it sees: as it is,
/// one row at a time taken from an older copy, and (for two copies `a`, `b`) each row as
/// the XOR of its value in the tampered file and the copies. Each variant must be refused.
fn assert_every_variant_refused(files: &Files, case: &str, floor: &StateFloor, copies: &[&Path]) {
    let tampered = files.keep("tampered.db");
    let current = meta(&tampered);
    let mut variants: Vec<(String, MetaRows)> = vec![("meta as it is".into(), Vec::new())];
    for (n, copy) in copies.iter().enumerate() {
        for (name, value) in meta(copy) {
            variants.push((format!("{name} from copy {n}"), vec![(name, value)]));
        }
    }
    if let [a, b] = copies {
        let (a, b) = (meta(a), meta(b));
        for (name, value) in &current {
            let find = |rows: &[(String, Vec<u8>)]| {
                rows.iter()
                    .find(|(n, v)| n == name && v.len() == value.len())
                    .map(|(_, v)| v.clone())
            };
            if let (Some(x), Some(y)) = (find(&a), find(&b)) {
                variants.push((
                    format!("{name} XOR the two copies"),
                    vec![(name.clone(), xor3(value, &x, &y))],
                ));
            }
        }
        // All rows at once (the other tables' records are equal in the copies, so XOR
        // leaves them as they are).
        let all: MetaRows = current
            .iter()
            .filter_map(|(name, value)| {
                let x = a
                    .iter()
                    .find(|(n, v)| n == name && v.len() == value.len())?;
                let y = b
                    .iter()
                    .find(|(n, v)| n == name && v.len() == value.len())?;
                Some((name.clone(), xor3(value, &x.1, &y.1)))
            })
            .collect();
        variants.push(("every row XOR the two copies".into(), all));
    }
    for (what, rows) in variants {
        files.restore(&tampered);
        for (name, value) in &rows {
            set_meta(&files.db(), name, value);
        }
        match open_against(&files.db(), floor) {
            Err(StoreError::Tampered(message)) => {
                eprintln!("[{case}; {what}] refused: {message}");
            }
            Err(other) => panic!("{case}; {what}: refused, but not as tampering: {other}"),
            Ok(_) => panic!("{case}; {what}: the forged database was accepted"),
        }
    }
}

/// Insert a schema object behind SQLite's back (`writable_schema`), as the review did: a
/// name starting with `sqlite_` cannot be created otherwise.
fn plant(path: &Path, kind: &str, name: &str, table: &str, sql: &str) {
    let conn = raw(path);
    conn.execute_batch("PRAGMA writable_schema = ON")
        .expect("writable_schema");
    conn.execute(
        "INSERT INTO sqlite_schema (type, name, tbl_name, rootpage, sql) VALUES (?1, ?2, ?3, 0, ?4)",
        rusqlite::params![kind, name, table, sql],
    )
    .expect("plant a schema object");
    conn.execute_batch("PRAGMA writable_schema = OFF")
        .expect("writable_schema off");
}

/// A database with a budget, a release, an audit entry and one screening, and the
/// vault's record of it.
fn used(files: &Files) -> StateFloor {
    let db = open(&files.db());
    db.set_privacy_budget(0.5).expect("budget");
    db.try_spend("count", "v1", 0.1).expect("spend");
    db.log_event(AuditEvent::ModelInstalled, "cvd-lr v1")
        .expect("audit");
    db.save(&record("p-1", 100, RiskClass::Low)).expect("save");
    db.state_floor().expect("floor")
}

#[test]
fn a_trigger_named_like_sqlites_own_objects_is_refused() {
    let files = Files::new();
    let floor = used(&files);
    plant(
        &files.db(),
        "trigger",
        "sqlite_x",
        "dp_releases",
        "CREATE TRIGGER sqlite_x AFTER INSERT ON dp_releases BEGIN \
         UPDATE dp_releases SET epsilon = 0.000001 WHERE id = new.id; END",
    );
    match open_against(&files.db(), &floor) {
        Err(StoreError::Tampered(message)) => {
            eprintln!("[sqlite_x trigger] refused: {message}");
            assert!(message.contains("trigger named \"sqlite_x\""), "{message}");
        }
        Err(other) => panic!("refused, but not as tampering: {other}"),
        Ok(db) => {
            // What the review saw: the trigger runs inside Pulsecure's own transaction.
            let spent = db
                .try_spend("histogram", "v1", 0.3)
                .and_then(|_| db.status());
            panic!("the planted trigger was accepted (budget after a 0.3 spend: {spent:?})");
        }
    }
}

#[test]
fn a_view_is_refused_whatever_its_name() {
    for name in ["sqlite_v", "notes"] {
        let files = Files::new();
        let floor = used(&files);
        plant(
            &files.db(),
            "view",
            name,
            name,
            &format!("CREATE VIEW {name} AS SELECT 1"),
        );
        match open_against(&files.db(), &floor) {
            Err(StoreError::Tampered(message)) => {
                eprintln!("[view {name}] refused: {message}");
                assert!(
                    message.contains(&format!("view named \"{name}\"")),
                    "{message}"
                );
            }
            other => panic!("view {name}: {:?}", other.map(|_| "accepted")),
        }
    }
}

#[test]
fn an_emptied_table_with_a_zero_record_is_refused() {
    for table in ["audit_log", "screenings", "dp_budget", "dp_releases"] {
        let files = Files::new();
        let floor = used(&files);
        let copy = files.keep("before.db");
        let conn = raw(&files.db());
        conn.execute_batch(&format!("DELETE FROM {table}"))
            .expect("empty the table");
        drop(conn);
        set_meta(&files.db(), &format!("integrity:{table}"), &[0u8; 32]);
        assert_every_variant_refused(&files, &format!("{table} emptied"), &floor, &[&copy]);
    }
}

#[test]
fn deleting_one_chosen_row_with_two_older_copies_is_refused() {
    let files = Files::new();
    let db = open(&files.db());
    db.save(&record("p-1", 100, RiskClass::Low)).expect("save");
    drop(db);
    let a = files.keep("a.db");
    let db = open(&files.db());
    db.save(&record("p-2", 200, RiskClass::High)).expect("save");
    drop(db);
    let b = files.keep("b.db");
    let db = open(&files.db());
    db.save(&record("p-3", 300, RiskClass::Low)).expect("save");
    let floor = db.state_floor().expect("floor");
    drop(db);
    // The middle, high-risk screening goes.
    raw(&files.db())
        .execute("DELETE FROM screenings WHERE id = 2", [])
        .expect("delete");
    assert_every_variant_refused(&files, "middle row deleted", &floor, &[&a, &b]);
}

#[test]
fn rolling_one_table_back_alone_is_refused() {
    let files = Files::new();
    let db = open(&files.db());
    db.log_event(AuditEvent::VaultUnlocked, "").expect("audit");
    drop(db);
    let before = files.keep("before.db");
    let db = open(&files.db());
    db.log_event(AuditEvent::ModelInstalled, "cvd-lr v2")
        .expect("audit");
    db.save(&record("p-1", 100, RiskClass::High)).expect("save");
    let floor = db.state_floor().expect("floor");
    drop(db);
    let conn = raw(&files.db());
    conn.execute_batch(&format!(
        "ATTACH '{}' AS old; DELETE FROM audit_log;
         INSERT INTO audit_log SELECT * FROM old.audit_log; DETACH old;",
        before.display()
    ))
    .expect("roll the audit log back");
    drop(conn);
    assert_every_variant_refused(&files, "audit log rolled back", &floor, &[&before]);
}

#[test]
fn a_whole_older_copy_is_refused_even_with_the_same_budget_and_models() {
    let files = Files::new();
    used(&files);
    let older = files.keep("older.db");
    let db = open(&files.db());
    db.save(&record("p-2", 200, RiskClass::High)).expect("save");
    db.save(&record("p-3", 300, RiskClass::High)).expect("save");
    let floor = db.state_floor().expect("floor");
    drop(db);
    files.restore(&older);
    match open_against(&files.db(), &floor) {
        Err(StoreError::Tampered(message)) => {
            eprintln!("[whole older copy] refused: {message}");
            assert!(message.contains("older copy"), "{message}");
        }
        Err(other) => panic!("refused, but not as tampering: {other}"),
        Ok(db) => panic!(
            "the older copy was accepted; screenings since lost: {} left",
            db.all().expect("all").len()
        ),
    }
}

#[test]
fn a_lifetime_budget_above_the_vaults_record_is_refused() {
    let files = Files::new();
    let mut floor = used(&files);
    // The vault recorded a smaller lifetime budget than the database now holds (e.g. the
    // budget row reverted to the default).
    floor.total_epsilon = 0.25;
    match open_against(&files.db(), &floor) {
        Err(StoreError::Tampered(message)) => {
            eprintln!("[lifetime budget above the vault's] refused: {message}");
            assert!(message.contains("lifetime"), "{message}");
        }
        other => panic!("{:?}", other.map(|_| "accepted")),
    }
}

#[test]
fn a_trigger_planted_while_the_database_is_open_fails_the_next_write() {
    let files = Files::new();
    used(&files);
    let db = open(&files.db());
    plant(
        &files.db(),
        "trigger",
        "sqlite_y",
        "dp_releases",
        "CREATE TRIGGER sqlite_y AFTER INSERT ON dp_releases BEGIN \
         UPDATE dp_releases SET epsilon = 0.000001 WHERE id = new.id; END",
    );
    // Other connections reload the schema when its version changes.
    let conn = raw(&files.db());
    let version: i64 = conn
        .query_row("PRAGMA schema_version", [], |r| r.get(0))
        .expect("schema version");
    conn.execute_batch(&format!("PRAGMA schema_version = {}", version + 1))
        .expect("bump the schema version");
    drop(conn);
    let spent = db.try_spend("histogram", "v1", 0.3);
    eprintln!("[trigger planted while open] spend: {spent:?}");
    assert!(spent.is_err(), "the spend ran with the planted trigger");
    assert!(
        (db.status().expect("status").spent - 0.1).abs() < 1e-9,
        "nothing was written"
    );
}
