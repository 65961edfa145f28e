//! Every decrypted result is checked against the reference engine before it is stored:
//! replayed, forged and impossible answers are refused and nothing is stored.

mod common;

use std::sync::Mutex;

use common::fakes::{pref, FixedClock, MemoryStore, XorClient, XorEvaluator};
use pulsecure_core::ports::fhe::{DecryptedResult, Evaluator, FheError};
use pulsecure_core::ports::store::ScreeningStore;
use pulsecure_core::usecase::inference::{InferenceError, InferenceService, Recorded};
use pulsecure_core::usecase::result_check::{checked_assessment, ResultRefused};
use pulsecure_core::{Model, PatientFeatures, QuantizedInput, ReferenceEngine};

const KEY: u8 = 0x5a;

/// The lowest- and highest-risk golden patients (their reference results differ).
fn low_and_high(model: &Model) -> (PatientFeatures, PatientFeatures) {
    let reference = ReferenceEngine::new(model);
    let mut patients: Vec<PatientFeatures> = common::golden_raw()
        .iter()
        .map(|raw| PatientFeatures::from_ordered(model.features(), raw).expect("valid"))
        .collect();
    patients.sort_by_key(|p| reference.evaluate(p).probability_code);
    let high = patients.pop().expect("golden patients");
    let low = patients.swap_remove(0);
    assert!(reference.evaluate(&high).high_risk && !reference.evaluate(&low).high_risk);
    (low, high)
}

/// An evaluator that answers every request with the first answer it computed: a proxy
/// replaying an earlier patient's response under the new request.
struct Replaying {
    honest: XorEvaluator,
    first: Mutex<Option<Vec<u8>>>,
}

impl Evaluator for Replaying {
    fn evaluate(&self, request: &[u8]) -> Result<Vec<u8>, FheError> {
        let mut first = self.first.lock().expect("not poisoned");
        match first.as_ref() {
            Some(answer) => Ok(answer.clone()),
            None => {
                let answer = self.honest.evaluate(request)?;
                *first = Some(answer.clone());
                Ok(answer)
            }
        }
    }
}

/// An evaluator that answers with a chosen probability code and class, whatever was asked.
struct Forging(u32, bool);

impl Evaluator for Forging {
    fn evaluate(&self, _request: &[u8]) -> Result<Vec<u8>, FheError> {
        let p = (self.0 as u16).to_le_bytes();
        Ok([p[0], p[1], u8::from(self.1)]
            .iter()
            .map(|b| b ^ KEY)
            .collect())
    }
}

#[test]
fn a_replayed_answer_is_refused_and_nothing_is_stored() {
    let model = common::default_model();
    let (low, high) = low_and_high(&model);
    let client = XorClient(KEY);
    let evaluator = Replaying {
        honest: XorEvaluator {
            model: model.clone(),
            key: KEY,
        },
        first: Mutex::new(None),
    };
    let service = InferenceService::logistic(&model, &client, &evaluator);
    let store = MemoryStore::default();
    let first = service
        .screen_and_record(&store, &FixedClock, &pref("P-low"), &low, &mut |_| {})
        .expect("the first, honest answer is stored");
    assert!(matches!(first, Recorded::Stored(_)));
    let replayed =
        service.screen_and_record(&store, &FixedClock, &pref("P-high"), &high, &mut |_| {});
    assert!(
        matches!(
            replayed,
            Err(InferenceError::ResultRefused(
                ResultRefused::DiffersFromReference
            ))
        ),
        "the low patient's answer replayed for the high patient must be refused, got {replayed:?}"
    );
    let stored = store.all().expect("rows");
    assert_eq!(stored.len(), 1, "only the honest screening is stored");
    assert_eq!(stored[0].record.patient_ref, pref("P-low"));
}

#[test]
fn an_impossible_or_inconsistent_answer_is_refused() {
    let model = common::default_model();
    let (low, high) = low_and_high(&model);
    let client = XorClient(KEY);
    let top = *model.lut().iter().max().expect("a table");
    let not_a_level = (0..4096u32)
        .rev()
        .find(|c| !model.lut().contains(c))
        .expect("some code is not a level");
    let cases = [
        // "98 %, low": no level of the table, and low on top of it.
        (Forging(not_a_level, false), ResultRefused::NotATableLevel),
        // The table's highest level with the class bit saying low.
        (
            Forging(top, false),
            ResultRefused::ClassDisagreesWithThreshold,
        ),
    ];
    for (evaluator, expected) in cases {
        let service = InferenceService::logistic(&model, &client, &evaluator);
        for patient in [&low, &high] {
            let outcome = service.screen(patient, &mut |_| {});
            assert_eq!(
                outcome.err().map(|e| e.to_string()),
                Some(expected.to_string())
            );
        }
    }
    // A consistent level that is simply not this patient's result.
    let low_result = ReferenceEngine::new(&model).evaluate(&low);
    let forged = Forging(low_result.probability_code, low_result.high_risk);
    let service = InferenceService::logistic(&model, &client, &forged);
    assert!(matches!(
        service.screen(&high, &mut |_| {}),
        Err(InferenceError::ResultRefused(
            ResultRefused::DiffersFromReference
        ))
    ));
}

/// An evaluator whose answers do not decrypt (a truncated frame).
struct Truncating;

impl Evaluator for Truncating {
    fn evaluate(&self, _request: &[u8]) -> Result<Vec<u8>, FheError> {
        Ok(vec![KEY, KEY])
    }
}

#[test]
fn an_undecryptable_answer_is_a_refused_result() {
    let model = common::default_model();
    let (low, _) = low_and_high(&model);
    let client = XorClient(KEY);
    let service = InferenceService::logistic(&model, &client, &Truncating);
    let store = MemoryStore::default();
    let outcome = service.screen_and_record(&store, &FixedClock, &pref("P-1"), &low, &mut |_| {});
    assert!(
        matches!(
            outcome,
            Err(InferenceError::ResultRefused(ResultRefused::Unreadable(
                FheError::Malformed { what: "result", .. }
            )))
        ),
        "{outcome:?}"
    );
    assert!(store.all().expect("rows").is_empty());
}

#[test]
fn every_honest_result_passes_and_every_other_level_is_refused() {
    let model = common::default_model();
    let reference = ReferenceEngine::new(&model);
    let mut levels: Vec<u32> = model.lut().to_vec();
    levels.dedup();
    for raw in common::golden_raw().iter().take(40) {
        let patient = PatientFeatures::from_ordered(model.features(), raw).expect("valid");
        let input = QuantizedInput::from_patient(&model, &patient);
        let truth = reference.evaluate_input(&input);
        for &level in &levels {
            let answer = DecryptedResult {
                probability_code: level,
                high_risk: level >= model.threshold(),
            };
            let checked = checked_assessment(&model, &input, answer);
            if level == truth.probability_code {
                let assessment = checked.expect("the reference result is accepted");
                assert_eq!(assessment.probability_code, truth.probability_code);
            } else {
                assert_eq!(checked, Err(ResultRefused::DiffersFromReference));
            }
        }
    }
}
