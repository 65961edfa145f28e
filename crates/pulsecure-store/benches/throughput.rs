//! Insert and read throughput for 10,000 screenings in a file-backed database (WAL,
//! synchronous=FULL, one transaction per screening as the product writes them), and the
//! cost of opening it (schema check and every integrity record recomputed).
//!
//! Run with `cargo bench -p pulsecure-store`; prints min and median over the rounds.

use std::time::{Duration, Instant};

use pulsecure_core::ports::store::{ScreeningRecord, ScreeningStore};
use pulsecure_core::{RiskAssessment, RiskClass};
use pulsecure_store::{Database, FieldKey};

const SCREENINGS: usize = 10_000;
const ROUNDS: usize = 3;

fn record(i: usize) -> ScreeningRecord {
    ScreeningRecord {
        patient_ref: pulsecure_core::PatientRef::parse(&format!("bench-{i:05}")).expect("valid"),
        created_at: 1_700_000_000 + i as i64,
        features: vec![
            50.0 + (i % 30) as f64,
            1.0,
            130.0,
            0.0,
            0.9,
            95.0,
            0.0,
            190.0,
            1.0,
        ],
        assessment: RiskAssessment {
            probability_code: (i % 4096) as u32,
            probability: (i % 4096) as f64 / 4096.0,
            class: if i.is_multiple_of(5) {
                RiskClass::High
            } else {
                RiskClass::Low
            },
            model_id: "cvd-lr".into(),
            model_version: 1,
        },
        status: pulsecure_core::ports::store::RecordStatus::Screened,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut inserts = Vec::new();
    let mut reads = Vec::new();
    let mut opens = Vec::new();
    for _ in 0..ROUNDS {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bench.db");
        let db = Database::open(&path, FieldKey::from_bytes([3; 32])).expect("open");
        let t = Instant::now();
        for i in 0..SCREENINGS {
            db.save(&record(i)).expect("save");
        }
        inserts.push(t.elapsed());
        let t = Instant::now();
        let all = db.all().expect("read");
        reads.push(t.elapsed());
        assert_eq!(all.len(), SCREENINGS);
        drop(db);
        let t = Instant::now();
        let db = Database::open(&path, FieldKey::from_bytes([3; 32])).expect("reopen");
        opens.push(t.elapsed());
        drop(db);
    }
    let rate = |d: Duration| SCREENINGS as f64 / d.as_secs_f64();
    let (imin, imed) = (
        *inserts.iter().min().expect("rounds"),
        median(inserts.clone()),
    );
    let (rmin, rmed) = (*reads.iter().min().expect("rounds"), median(reads.clone()));
    println!(
        "store/insert_10000: min {:.2} s ({:.0}/s), median {:.2} s ({:.0}/s)",
        imin.as_secs_f64(),
        rate(imin),
        imed.as_secs_f64(),
        rate(imed)
    );
    println!(
        "store/read_decrypt_10000: min {:.3} s ({:.0}/s), median {:.3} s ({:.0}/s)",
        rmin.as_secs_f64(),
        rate(rmin),
        rmed.as_secs_f64(),
        rate(rmed)
    );
    println!(
        "store/open_verify_10000: min {:.3} s, median {:.3} s",
        opens.iter().min().expect("rounds").as_secs_f64(),
        median(opens).as_secs_f64()
    );
}
