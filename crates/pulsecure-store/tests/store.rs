//! The SQLite adapter against its ports and its failure modes.

use std::path::Path;

use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::ports::registry::{AcceptedModel, ModelRegistry};
use pulsecure_core::ports::store::{ScreeningRecord, ScreeningStore, StoreError};
use pulsecure_core::{PatientRef, RiskAssessment, RiskClass};
use pulsecure_store::{Database, FieldKey, ScreeningFilter, SCHEMA_VERSION};
use rusqlite::Connection;

fn key() -> FieldKey {
    FieldKey::from_bytes([0x42; 32])
}

/// Distinctive values that must never appear in the file in clear.
const SYSTOLIC: f64 = 187.25;
const CHOLESTEROL: f64 = 263.75;

fn record(patient_ref: &str, created_at: i64, class: RiskClass) -> ScreeningRecord {
    ScreeningRecord {
        patient_ref: PatientRef::parse(patient_ref).expect("valid reference"),
        created_at,
        features: vec![61.0, 1.0, SYSTOLIC, 0.0, 1.07, 101.5, 0.0, CHOLESTEROL, 1.0],
        assessment: RiskAssessment {
            probability_code: 1234,
            probability: 1234.0 / 4096.0,
            class,
            model_id: "cvd-lr".into(),
            model_version: 1,
        },
        status: pulsecure_core::ports::store::RecordStatus::Screened,
    }
}

fn open(path: &Path) -> Database {
    Database::open(path, key()).expect("open")
}

#[test]
fn screenings_round_trip_and_filter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(&dir.path().join("p.db"));
    let a = db.save(&record("p-1", 100, RiskClass::High)).expect("save");
    let b = db.save(&record("p-2", 200, RiskClass::Low)).expect("save");
    assert_ne!(a, b);
    let all = db.all().expect("all");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].record, record("p-1", 100, RiskClass::High));
    let p2 = PatientRef::parse("p-2").expect("valid");
    let found = db.find("cvd-lr", 1, &p2).expect("find").expect("stored");
    assert_eq!(found.record.patient_ref, p2);
    assert!(db.find("cvd-lr", 2, &p2).expect("find").is_none());
    let high = db
        .history(&ScreeningFilter {
            class: Some(RiskClass::High),
            ..Default::default()
        })
        .expect("history");
    assert_eq!(high.iter().map(|s| s.id).collect::<Vec<_>>(), vec![a]);
    let late = db
        .history(&ScreeningFilter {
            since: Some(150),
            ..Default::default()
        })
        .expect("history");
    assert_eq!(late.iter().map(|s| s.id).collect::<Vec<_>>(), vec![b]);
    assert_eq!(
        db.screening(b).expect("one").record.patient_ref.as_str(),
        "p-2"
    );
    assert!(matches!(db.screening(999), Err(StoreError::NotFound(999))));
    assert_eq!(db.schema_version().expect("version"), SCHEMA_VERSION);
}

/// A not-eligible decision is stored as such (status and reason read back, no result), is
/// found again by its reference, and is not a "low" for the class filter.
#[test]
fn not_eligible_decisions_are_stored_as_such() {
    use pulsecure_core::domain::equation_intake::IneligibleReason;
    use pulsecure_core::ports::store::RecordStatus;
    let db = Database::open_in_memory(key()).expect("open");
    let low = db.save(&record("p-1", 100, RiskClass::Low)).expect("save");
    let cvd = PatientRef::parse("p-cvd").expect("valid");
    db.save(&ScreeningRecord::not_eligible(
        cvd.clone(),
        150,
        "cvd-lr",
        1,
        9,
        IneligibleReason::KnownCvd,
    ))
    .expect("save");
    let found = db.find("cvd-lr", 1, &cvd).expect("find").expect("stored");
    assert_eq!(
        found.record.status,
        RecordStatus::NotEligible(IneligibleReason::KnownCvd)
    );
    assert_eq!(found.record.features.len(), 9);
    assert!(found.record.features.iter().all(|v| v.is_nan()));
    assert_eq!(db.all().expect("all").len(), 2);
    let lows = db
        .history(&ScreeningFilter {
            class: Some(RiskClass::Low),
            ..Default::default()
        })
        .expect("history");
    assert_eq!(lows.iter().map(|s| s.id).collect::<Vec<_>>(), vec![low]);
    assert_eq!(
        db.all().expect("all")[0].record.status,
        RecordStatus::Screened
    );
}

#[test]
fn a_patient_is_stored_once_per_model_version() {
    let db = Database::open_in_memory(key()).expect("open");
    db.save(&record("p-1", 1, RiskClass::Low)).expect("save");
    let err = db
        .save(&record("p-1", 2, RiskClass::High))
        .expect_err("duplicate");
    assert!(matches!(err, StoreError::Duplicate), "{err}");
    assert_eq!(db.all().expect("all").len(), 1);
}

#[test]
fn the_file_and_its_wal_hold_no_patient_value_in_clear() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p.db");
    let db = open(&path);
    for i in 0..20 {
        db.save(&record(&format!("p-{i}"), i, RiskClass::High))
            .expect("save");
    }
    let mut needles: Vec<Vec<u8>> = Vec::new();
    for value in [SYSTOLIC, CHOLESTEROL] {
        needles.push(value.to_string().into_bytes());
        needles.push(value.to_le_bytes().to_vec());
        needles.push(value.to_be_bytes().to_vec());
    }
    needles.push(b"1234".to_vec()); // the probability code as text
    needles.push(b"high".to_vec()); // the class label
    let mut files = vec![path.clone()];
    let wal = dir.path().join("p.db-wal");
    assert!(wal.exists(), "WAL mode keeps a -wal file while open");
    files.push(wal);
    for file in files {
        let bytes = std::fs::read(&file).expect("read");
        for needle in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{} contains {:?} in clear",
                file.display(),
                String::from_utf8_lossy(needle)
            );
        }
    }
}

#[test]
fn another_vaults_key_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p.db");
    open(&path)
        .save(&record("p-1", 1, RiskClass::Low))
        .expect("save");
    let err = Database::open(&path, FieldKey::from_bytes([0x43; 32])).expect_err("wrong key");
    assert!(matches!(err, StoreError::WrongKey), "{err}");
    assert_eq!(open(&path).all().expect("all").len(), 1);
}

fn raw(path: &Path) -> Connection {
    Connection::open(path).expect("raw connection")
}

#[test]
fn altered_rows_are_reported_by_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p.db");
    let db = open(&path);
    let first = db.save(&record("p-1", 1, RiskClass::Low)).expect("save");
    let second = db.save(&record("p-2", 2, RiskClass::Low)).expect("save");
    let third = db.save(&record("p-3", 3, RiskClass::Low)).expect("save");
    let conn = raw(&path);
    // Flip a bit of a payload byte of the first row (setting the byte to a constant left it
    // unchanged whenever the random ciphertext already held that value: 1 run in 256).
    let mut payload: Vec<u8> = conn
        .query_row(
            "SELECT payload FROM screenings WHERE id = ?1",
            [first],
            |r| r.get(0),
        )
        .expect("payload");
    payload[5] ^= 0x01;
    conn.execute(
        "UPDATE screenings SET payload = ?1 WHERE id = ?2",
        rusqlite::params![payload, first],
    )
    .expect("tamper payload");
    // Re-label the second row (clear column bound as associated data).
    conn.execute(
        "UPDATE screenings SET ref_tag = zeroblob(32) WHERE id = ?1",
        [second],
    )
    .expect("tamper reference tag");
    let report = db.check().expect("check");
    assert_eq!(report.integrity, vec!["ok".to_string()]);
    assert_eq!(report.rows, 3);
    assert_eq!(report.corrupt_ids, vec![first, second]);
    assert_eq!(report.altered, vec!["the stored screenings"]);
    assert!(!report.is_ok());
    // Reopening refuses the altered database outright.
    assert!(matches!(
        Database::open(&path, key()),
        Err(StoreError::Tampered(what)) if what.contains("stored screenings")
    ));
    assert!(matches!(
        db.screening(first),
        Err(StoreError::Corrupt { id }) if id == first
    ));
    assert!(db.screening(third).is_ok());
    // Moving a payload to another row is detected too.
    conn.execute(
        "UPDATE screenings SET nonce = (SELECT nonce FROM screenings WHERE id = ?1),
                               payload = (SELECT payload FROM screenings WHERE id = ?1)
         WHERE id = ?2",
        [third, second],
    )
    .expect("swap");
    assert!(matches!(
        db.screening(second),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn a_database_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p.db");
    drop(open(&path));
    raw(&path)
        .pragma_update(None, "user_version", 99)
        .expect("bump version");
    let err = Database::open(&path, key()).expect_err("too new");
    assert!(
        matches!(err, StoreError::TooNew { found: 99, supported } if supported == SCHEMA_VERSION),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade"));
}

#[test]
fn a_locked_database_gives_a_locked_error_and_keeps_the_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p.db");
    let db = open(&path);
    db.save(&record("p-1", 1, RiskClass::Low)).expect("save");
    let other = raw(&path);
    other
        .execute_batch("BEGIN EXCLUSIVE")
        .expect("other process takes the write lock");
    let err = db
        .save(&record("p-2", 2, RiskClass::Low))
        .expect_err("locked");
    assert!(matches!(err, StoreError::Locked), "{err}");
    other.execute_batch("ROLLBACK").expect("release");
    assert_eq!(db.all().expect("all").len(), 1);
    db.save(&record("p-2", 2, RiskClass::Low))
        .expect("works once released");
}

#[test]
fn model_state_keeps_the_highest_version_across_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p.db");
    let accepted = AcceptedModel {
        model_id: "cvd-lr".into(),
        version: 3,
        sha256: "ab".repeat(32),
    };
    open(&path).record(&accepted).expect("record");
    let db = open(&path);
    assert_eq!(db.accepted("cvd-lr").expect("read"), Some(accepted.clone()));
    assert_eq!(db.accepted("other").expect("read"), None);
    // Recording a version that is not newer is refused even if a caller skipped the check.
    assert!(db
        .record(&AcceptedModel {
            version: 2,
            ..accepted.clone()
        })
        .is_err());
    assert_eq!(db.accepted("cvd-lr").expect("read"), Some(accepted));
}

#[test]
fn audit_entries_are_appended_in_order() {
    let db = Database::open_in_memory(key()).expect("open");
    db.log_event(AuditEvent::VaultUnlocked, "").expect("log");
    db.log_event(AuditEvent::ModelInstalled, "cvd-lr v1")
        .expect("log");
    let log = db.audit_entries().expect("read");
    assert_eq!(
        log.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        vec!["vault-unlocked", "model-installed"]
    );
    assert_eq!(log[1].detail, "cvd-lr v1");
}

#[test]
fn sealed_rows_have_one_length_whatever_the_class_and_the_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p.db");
    let db = open(&path);
    let mut low = record("p-low", 100, RiskClass::Low);
    low.assessment.probability_code = 0;
    low.assessment.probability = 0.0;
    low.features = vec![20.0, 0.0, 90.0, 0.0, 0.45, 66.38, 0.0, 102.7, 0.0];
    let mut high = record("p-high", 100, RiskClass::High);
    high.assessment.probability_code = 1982;
    high.assessment.probability = 1982.0 / 4096.0;
    let mut extreme = record("p-extreme", 100, RiskClass::High);
    extreme.assessment.probability_code = 4096;
    extreme.assessment.probability = 1.0;
    extreme.features = vec![
        18.123456789,
        1.0,
        259.99,
        1.0,
        19.875,
        199.5,
        1.0,
        599.125,
        1.0,
    ];
    let not_eligible = ScreeningRecord::not_eligible(
        PatientRef::parse("p-cvd").expect("valid"),
        400,
        "cvd-lr",
        1,
        9,
        pulsecure_core::domain::equation_intake::IneligibleReason::AgeOutsideRange,
    );
    for r in [&low, &high, &extreme, &not_eligible] {
        db.save(r).expect("save");
    }
    drop(db);
    let conn = Connection::open(&path).expect("open");
    let lengths: Vec<i64> = conn
        .prepare("SELECT length(payload) FROM screenings ORDER BY id")
        .expect("prepare")
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("lengths");
    // 282 (tag, time, reference padded to 256 bytes, status, feature count, probability,
    // code, class) + 8 per feature, plus the 16-byte GCM tag: the same whatever the
    // reference's length, the class, the values or whether the patient was eligible.
    assert_eq!(lengths, vec![282 + 8 * 9 + 16; 4]);
}

/// Opening verifies every integrity record from one snapshot: a process writing screenings
/// meanwhile (a batch in another terminal) never makes an open report tampering.
#[test]
fn opening_while_another_connection_writes_never_looks_like_tampering() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p.db");
    drop(open(&path));
    let writer = {
        let path = path.clone();
        std::thread::spawn(move || {
            let db = open(&path);
            for i in 0..300 {
                db.save(&record(&format!("w-{i}"), i, RiskClass::Low))
                    .expect("save");
            }
        })
    };
    let mut opens = 0;
    while !writer.is_finished() {
        match Database::open(&path, key()) {
            Ok(_) | Err(StoreError::Locked) => opens += 1,
            Err(e) => panic!("open {opens} during writes: {e}"),
        }
    }
    writer.join().expect("writer");
    assert!(opens > 0);
    assert_eq!(open(&path).all().expect("all").len(), 300);
}
