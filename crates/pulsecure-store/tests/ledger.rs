//! The ε ledger: atomic under concurrency (threads and processes), persistent across
//! restarts, never overspent.

use std::path::Path;
use std::sync::Arc;

use pulsecure_core::ports::privacy::{BudgetLedger, PrivacyError};
use pulsecure_store::{Database, FieldKey, DEFAULT_TOTAL_EPSILON};

const EPSILON: f64 = 0.02; // 50 of these fit in a budget of 1.0
const CHILD_ENV: &str = "PULSECURE_LEDGER_CHILD_DB";

fn open(path: &Path) -> Database {
    Database::open(path, FieldKey::from_bytes([9; 32])).expect("open")
}

/// Try `attempts` spends; returns how many succeeded. Anything but success or a budget
/// refusal is a test failure.
fn spend_many(db: &Database, label: &str, attempts: usize) -> usize {
    let mut ok = 0;
    for i in 0..attempts {
        match db.try_spend(&format!("{label}-{i}"), "v1", EPSILON) {
            Ok(_) => ok += 1,
            Err(PrivacyError::BudgetExceeded { .. }) => {}
            Err(e) => panic!("unexpected ledger error: {e}"),
        }
    }
    ok
}

#[test]
fn eight_threads_spend_exactly_the_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(open(&dir.path().join("l.db")));
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || spend_many(&db, &format!("t{t}"), 100))
        })
        .collect();
    let succeeded: usize = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    assert_eq!(succeeded, 50);
    let status = db.status().expect("status");
    assert!(status.spent <= status.total + 1e-9, "{status:?}");
    assert_eq!(db.entries().expect("entries").len(), 50);
}

/// The child of `two_processes_spend_exactly_the_budget`: spend against the database named
/// in the environment. Ignored in a normal run (it is shown as ignored, never as a pass);
/// the parent runs it with `--ignored`, and run alone it fails rather than pass vacuously.
#[test]
#[ignore = "run by two_processes_spend_exactly_the_budget as its child process"]
fn ledger_child_process() {
    let path = std::env::var(CHILD_ENV).unwrap_or_else(|_| {
        panic!("run as the child of two_processes_spend_exactly_the_budget ({CHILD_ENV} unset)")
    });
    let db = open(Path::new(&path));
    let ok = spend_many(&db, &format!("p{}", std::process::id()), 100);
    println!("SUCCEEDED={ok}");
}

#[test]
fn two_processes_spend_exactly_the_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("l.db");
    drop(open(&path)); // create and migrate once
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&exe)
                .args([
                    "ledger_child_process",
                    "--exact",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, &path)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("spawn child")
        })
        .collect();
    let mut succeeded = 0;
    for child in children {
        let out = child.wait_with_output().expect("child");
        assert!(out.status.success(), "child failed");
        let text = String::from_utf8_lossy(&out.stdout);
        let n: usize = text
            .split("SUCCEEDED=")
            .nth(1)
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no count in child output: {text}"));
        succeeded += n;
    }
    assert_eq!(succeeded, 50);
    let db = open(&path);
    assert!(db.status().expect("status").spent <= DEFAULT_TOTAL_EPSILON + 1e-9);
}

#[test]
fn spent_budget_stays_spent_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("l.db");
    {
        let db = open(&path);
        db.set_privacy_budget(0.5).expect("budget");
        let id = db.try_spend("count@eps=0.3", "v1", 0.3).expect("spend");
        db.record_result(id, &[12.0]).expect("record");
    }
    let db = open(&path);
    let status = db.status().expect("status");
    assert!((status.total - 0.5).abs() < 1e-12);
    assert!((status.spent - 0.3).abs() < 1e-12);
    assert!(matches!(
        db.try_spend("histogram@eps=0.3", "v1", 0.3),
        Err(PrivacyError::BudgetExceeded { .. })
    ));
    let found = db
        .find("count@eps=0.3", "v1")
        .expect("find")
        .expect("recorded");
    assert_eq!(found.result, Some(vec![12.0]));
    // The budget cannot be raised after spending began.
    assert!(db.set_privacy_budget(100.0).is_err());
    assert!(matches!(
        db.set_privacy_budget(f64::NAN),
        Err(PrivacyError::InvalidBudget)
    ));
}
