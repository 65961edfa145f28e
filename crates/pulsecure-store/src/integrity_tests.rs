//! Tests of the integrity records through a whole database: the sealed state, the upgrade
//! of an earlier build's per-table heads, and the refusals (a file of its own so that the
//! integrity module does not depend on the database it serves).

use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::ports::store::StoreError;

use crate::database::Database;
use crate::field_cipher::FieldKey;
use crate::rollback_floor::StateFloor;

fn key() -> FieldKey {
    FieldKey::from_bytes([0x33; 32])
}

/// Replace the sealed state by the per-table heads an earlier build kept.
fn to_legacy(path: &std::path::Path) {
    let db = Database::open(path, key()).expect("open");
    let conn = db.conn().expect("conn");
    db.integrity
        .write_legacy_heads(&conn)
        .expect("legacy heads");
}

/// A database and vault of the previous format (per-table heads, a floor without a
/// generation) are upgraded, not refused; afterwards the old format is refused, so the
/// unkeyed heads cannot be brought back to forge a table.
#[test]
fn heads_of_an_earlier_build_are_upgraded_once_and_cannot_be_brought_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p.db");
    let earlier_floor: StateFloor = {
        let db = Database::open(&path, key()).expect("open");
        db.set_privacy_budget(0.5).expect("budget");
        db.log_event(AuditEvent::ModelInstalled, "cvd-lr v1")
            .expect("audit");
        StateFloor {
            generation: 0,
            ..db.state_floor().expect("floor")
        }
    };
    to_legacy(&path);
    let db = Database::open_checked(&path, key(), Some(&earlier_floor)).expect("upgrade");
    assert!(db.opened().upgraded);
    let floor = db.state_floor().expect("floor");
    assert!(floor.generation > 0);
    let legacy_rows: i64 = db
        .conn()
        .expect("conn")
        .query_row(
            "SELECT count(*) FROM meta WHERE name LIKE 'integrity:%' AND name <> 'integrity:state'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(legacy_rows, 0);
    drop(db);
    // The same database opens again, without another upgrade.
    let again = Database::open_checked(&path, key(), Some(&floor)).expect("reopen");
    assert!(!again.opened().upgraded);
    drop(again);
    // Downgraded to heads after the vault recorded a generation: refused.
    to_legacy(&path);
    match Database::open_checked(&path, key(), Some(&floor)) {
        Err(StoreError::Tampered(message)) => {
            assert!(message.contains("earlier build"), "{message}")
        }
        other => panic!("{:?}", other.map(|_| "accepted")),
    }
}
