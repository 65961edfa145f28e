//! What someone with write access to the data directory but without the password can change
//! (security review, issue 18 item 2): each edit the review made is refused by the next
//! unlocked command with exit 4 and a message naming what was altered; deleting the database
//! keeps the baseline and the spent budget; an older copy of the database is refused.
//! Each case prints its exit code and message (run with --nocapture to collect them).

mod support;

use std::path::PathBuf;

use support::{assert_ok, Env};

/// An initialized directory with three screenings and one release of ε 0.25.
fn used_env() -> Env {
    let env = Env::initialized();
    support::screen_good_rows(&env, "MRN-47", 3, 5);
    support::let_this_second_pass();
    assert_ok(&env.run(&["stats", "count", "--epsilon", "0.25", "--yes"], true));
    env
}

fn database(env: &Env) -> PathBuf {
    env.data.join("pulsecure.db")
}

fn sql(env: &Env, statement: &str) {
    let conn = rusqlite::Connection::open(database(env)).expect("open db");
    conn.execute_batch(statement).expect("tampering statement");
}

fn spent(env: &Env) -> f64 {
    let out = env.run(&["stats", "budget", "--json"], true);
    assert_ok(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    doc["spent"].as_f64().expect("spent")
}

/// The next unlocked command must exit 4 naming `needle`; returns the message.
fn refused(env: &Env, case: &str, needle: &str) -> String {
    let out = env.run(&["stats", "budget"], true);
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    eprintln!("[{case}] exit {:?}: {stderr}", out.status.code());
    assert_eq!(out.status.code(), Some(4), "{case}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{case}: expected {needle:?} in {stderr}"
    );
    // Refused every time, not only once.
    assert_eq!(env.run(&["history"], true).status.code(), Some(4), "{case}");
    stderr
}

#[test]
fn inserting_a_trusted_publisher_key_is_refused() {
    let env = used_env();
    sql(
        &env,
        "INSERT INTO trusted_keys (key_id, model_id, public_key, label, added_at)
         VALUES ('0123456789ABCDEF', 'cvd-lr', 'RWQBI0VFR0VSAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'attacker', 0)",
    );
    refused(&env, "trusted-key insert", "trusted publisher keys");
}

#[test]
fn raising_the_model_state_is_refused() {
    let env = used_env();
    sql(
        &env,
        &format!(
            "UPDATE model_state SET version = 9, sha256 = '{}'",
            "ab".repeat(32)
        ),
    );
    refused(&env, "model_state raise", "model anti-rollback state");
}

#[test]
fn deleting_an_audit_entry_is_refused() {
    let env = used_env();
    sql(
        &env,
        "DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)",
    );
    refused(&env, "audit delete", "audit log");
}

#[test]
fn deleting_ledger_rows_is_refused() {
    let env = used_env();
    sql(&env, "DELETE FROM dp_releases");
    refused(&env, "ledger delete", "privacy ledger");
}

#[test]
fn a_trigger_rewriting_the_ledger_is_refused() {
    let env = used_env();
    sql(
        &env,
        "CREATE TRIGGER free_budget AFTER INSERT ON dp_releases
         BEGIN UPDATE dp_releases SET epsilon = 0.000001; END",
    );
    refused(&env, "ledger trigger", "trigger named \"free_budget\"");
}

#[test]
fn an_extra_table_or_a_weakened_definition_is_refused() {
    let env = used_env();
    sql(&env, "CREATE TABLE notes (x TEXT)");
    refused(&env, "extra table", "table named \"notes\"");

    let env = used_env();
    sql(
        &env,
        "DROP INDEX dp_releases_query; CREATE INDEX dp_releases_query ON dp_releases (query)",
    );
    refused(
        &env,
        "changed index",
        "definition of index \"dp_releases_query\"",
    );
}

#[test]
fn deleting_the_integrity_records_is_refused() {
    let env = used_env();
    sql(&env, "DELETE FROM meta WHERE name LIKE 'integrity:%'");
    refused(
        &env,
        "integrity records delete",
        "integrity records deleted",
    );
}

#[test]
fn deleting_a_screening_is_refused() {
    let env = used_env();
    sql(&env, "DELETE FROM screenings WHERE id = 2");
    refused(&env, "screening delete", "stored screenings");
}

/// Replacing the database with a copy taken before the last release would give the ε back;
/// the vault remembers it.
#[test]
fn an_older_copy_of_the_database_is_refused() {
    let env = used_env();
    let copy = env.path("older.db");
    // A consistent copy of the WAL database (what a backup tool would take).
    sql(&env, &format!("VACUUM INTO '{}'", copy.display()));
    assert_ok(&env.run(&["stats", "histogram", "--epsilon", "0.25", "--yes"], true));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database(&env).display()));
    }
    std::fs::copy(&copy, database(&env)).expect("restore the older copy");
    refused(&env, "older database copy", "vault recorded 0.5000");
}

/// A copy taken before the last screenings, with the same ε spent and the same models: the
/// screenings made since would be lost silently. The vault's record of the integrity
/// state's generation refuses it.
#[test]
fn an_older_copy_with_the_same_budget_and_models_is_refused() {
    let env = used_env();
    // A consistent copy of the file, rowids kept (what copying the closed file gives).
    sql(&env, "PRAGMA wal_checkpoint(TRUNCATE)");
    let copy = env.path("older.db");
    std::fs::copy(database(&env), &copy).expect("keep a copy");
    support::screen_good_rows(&env, "MRN-48", 2, 7);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database(&env).display()));
    }
    std::fs::copy(&copy, database(&env)).expect("restore the older copy");
    refused(&env, "older copy, same ε and models", "older copy");
}

/// A trigger whose name starts with `sqlite_` (which SQLite reserves, so it can only be
/// planted with `writable_schema`) was skipped by the schema check and ran inside
/// Pulsecure's own transactions.
#[test]
fn a_trigger_named_like_sqlites_own_objects_is_refused() {
    let env = used_env();
    sql(
        &env,
        "PRAGMA writable_schema = ON;
         INSERT INTO sqlite_schema (type, name, tbl_name, rootpage, sql) VALUES
           ('trigger', 'sqlite_x', 'dp_releases', 0,
            'CREATE TRIGGER sqlite_x AFTER INSERT ON dp_releases BEGIN UPDATE dp_releases SET epsilon = 0.000001 WHERE id = new.id; END');
         PRAGMA writable_schema = OFF;",
    );
    refused(&env, "sqlite_x trigger", "trigger named \"sqlite_x\"");
}

/// Deleting the database does not reset the spent budget or the model baseline: they are
/// carried over from the vault, with a warning and an audit entry.
#[test]
fn deleting_the_database_keeps_the_baseline_and_the_spent_budget() {
    let env = used_env();
    assert!((spent(&env) - 0.25).abs() < 1e-9);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database(&env).display()));
    }
    let out = env.run(&["stats", "budget", "--json"], true);
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    eprintln!("[database delete] exit {:?}: {stderr}", out.status.code());
    assert_ok(&out);
    assert!(stderr.contains("database was missing"), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!((doc["spent"].as_f64().expect("spent") - 0.25).abs() < 1e-9);
    // Warned once: the next unlock opens the re-created database silently.
    let again = env.run(&["stats", "budget"], true);
    assert_ok(&again);
    assert!(!String::from_utf8_lossy(&again.stderr).contains("missing"));
    let conn = rusqlite::Connection::open(database(&env)).expect("open db");
    let baseline: i64 = conn
        .query_row(
            "SELECT version FROM model_state WHERE model_id = 'cvd-lr'",
            [],
            |r| r.get(0),
        )
        .expect("baseline carried over");
    assert_eq!(baseline, 3, "the embedded release, v3");
    let events: Vec<String> = conn
        .prepare("SELECT event FROM audit_log")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("events");
    assert!(
        events.contains(&"database-recreated".to_string()),
        "{events:?}"
    );
}

/// The database file holds no reference, in any column or page.
#[test]
fn references_never_reach_the_database_file_in_clear() {
    let env = used_env();
    sql(&env, "PRAGMA wal_checkpoint(TRUNCATE)");
    let bytes = std::fs::read(database(&env)).expect("read db");
    for i in 0..3 {
        let reference = format!("MRN-47{i}");
        assert!(
            !bytes
                .windows(reference.len())
                .any(|w| w == reference.as_bytes()),
            "{reference} is in the database file"
        );
    }
    // … yet history still shows them (they are sealed, not lost).
    let out = env.run(&["history", "--format", "csv"], true);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("MRN-471"));
}
