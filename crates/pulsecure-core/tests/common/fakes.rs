//! In-memory fakes of the screening ports, shared by the core's integration tests: a XOR
//! "encryption" whose evaluator must really decode the request, a screening store and a
//! fixed clock.
#![allow(dead_code)]

use std::sync::Mutex;

use pulsecure_core::ports::clock::Clock;
use pulsecure_core::ports::fhe::{DecryptedResult, Evaluator, FheClient, FheError};
use pulsecure_core::ports::store::{ScreeningRecord, ScreeningStore, StoreError, StoredScreening};
use pulsecure_core::{Model, PatientRef, QuantizedInput, ReferenceEngine};

/// A patient reference from text known to be valid.
pub fn pref(text: &str) -> PatientRef {
    PatientRef::parse(text).expect("valid reference")
}

/// A fake "encryption": XOR with a key byte, so the evaluator must really decode the bytes.
pub struct XorClient(pub u8);
pub struct XorEvaluator {
    pub model: Model,
    pub key: u8,
}

impl FheClient for XorClient {
    fn encrypt(&self, input: &QuantizedInput) -> Result<Vec<u8>, FheError> {
        Ok(input.codes().iter().map(|&c| c as u8 ^ self.0).collect())
    }
    fn decrypt(&self, result: &[u8]) -> Result<DecryptedResult, FheError> {
        let b: Vec<u8> = result.iter().map(|b| b ^ self.0).collect();
        if b.len() != 3 {
            return Err(FheError::Malformed {
                what: "result",
                reason: "length".into(),
            });
        }
        Ok(DecryptedResult {
            probability_code: u32::from(u16::from_le_bytes([b[0], b[1]])),
            high_risk: b[2] == 1,
        })
    }
}

impl Evaluator for XorEvaluator {
    fn evaluate(&self, request: &[u8]) -> Result<Vec<u8>, FheError> {
        let codes = request.iter().map(|b| u32::from(b ^ self.key)).collect();
        let input = QuantizedInput::from_codes(&self.model, codes).ok_or(FheError::Malformed {
            what: "request",
            reason: "codes".into(),
        })?;
        let t = ReferenceEngine::new(&self.model).evaluate_input(&input);
        let p = (t.probability_code as u16).to_le_bytes();
        Ok([p[0], p[1], u8::from(t.high_risk)]
            .iter()
            .map(|b| b ^ self.key)
            .collect())
    }
}

#[derive(Default)]
pub struct MemoryStore(Mutex<Vec<ScreeningRecord>>);

impl ScreeningStore for MemoryStore {
    fn save(&self, record: &ScreeningRecord) -> Result<i64, StoreError> {
        let mut rows = self
            .0
            .lock()
            .map_err(|_| StoreError::Backend("poisoned".into()))?;
        rows.push(record.clone());
        Ok(rows.len() as i64)
    }
    fn find(
        &self,
        model_id: &str,
        version: u64,
        patient_ref: &PatientRef,
    ) -> Result<Option<StoredScreening>, StoreError> {
        Ok(self.all()?.into_iter().find(|s| {
            s.record.patient_ref == *patient_ref
                && s.record.assessment.model_id == model_id
                && s.record.assessment.model_version == version
        }))
    }
    fn all(&self) -> Result<Vec<StoredScreening>, StoreError> {
        Ok(self
            .0
            .lock()
            .map_err(|_| StoreError::Backend("poisoned".into()))?
            .iter()
            .enumerate()
            .map(|(i, record)| StoredScreening {
                id: i as i64 + 1,
                record: record.clone(),
            })
            .collect())
    }
}

pub struct FixedClock;
impl Clock for FixedClock {
    fn now_unix_seconds(&self) -> i64 {
        1_700_000_000
    }
}
