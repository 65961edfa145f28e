//! Application services against in-memory fakes of every port.

mod common;

use common::fakes::{pref, FixedClock, MemoryStore, XorClient, XorEvaluator};

use std::sync::Mutex;

use pulsecure_core::domain::analytics::{Dataset, Query, QueryError, Window};
use pulsecure_core::ports::catalog::{CatalogError, ModelCatalog};
use pulsecure_core::ports::privacy::{
    BudgetLedger, BudgetStatus, LedgerEntry, PrivacyError, PrivacyMechanism,
};
use pulsecure_core::ports::registry::{AcceptedModel, ModelRegistry};
use pulsecure_core::ports::store::{ScreeningStore, StoreError};
use pulsecure_core::usecase::analytics::AnalyticsService;
use pulsecure_core::usecase::inference::{InferenceError, InferenceService, Recorded, Stage};
use pulsecure_core::usecase::model_service::{InstallOutcome, ModelService, RollbackError};
use pulsecure_core::{Model, PatientFeatures, ReferenceEngine, RiskClass};

/// A catalog holding one model.
struct OneModel(std::sync::Arc<Model>);

impl ModelCatalog for OneModel {
    fn model(&self, id: &str, version: u64) -> Result<std::sync::Arc<Model>, CatalogError> {
        if id == self.0.id() && version == self.0.version() {
            Ok(self.0.clone())
        } else {
            Err(CatalogError::Unknown {
                id: id.into(),
                version,
            })
        }
    }
}

fn patients(model: &Model) -> Vec<PatientFeatures> {
    common::golden_raw()
        .iter()
        .take(30)
        .map(|raw| PatientFeatures::from_ordered(model.features(), raw).expect("valid"))
        .collect()
}

#[test]
fn inference_goes_through_encrypt_evaluate_decrypt_in_order() {
    let model = common::default_model();
    let client = XorClient(0x5a);
    let evaluator = XorEvaluator {
        model: model.clone(),
        key: 0x5a,
    };
    let service = InferenceService::logistic(&model, &client, &evaluator);
    let reference = ReferenceEngine::new(&model);
    for patient in patients(&model) {
        let mut stages = Vec::new();
        let s = service
            .screen(&patient, &mut |st| stages.push(st))
            .expect("screened");
        assert_eq!(stages, Stage::ALL.to_vec());
        let t = reference.evaluate(&patient);
        assert_eq!(s.assessment.probability_code, t.probability_code);
        assert_eq!(s.assessment.class, RiskClass::from_high(t.high_risk));
        assert_eq!(s.assessment.model_id, "cvd-lr");
    }
}

#[test]
fn wrong_client_key_surfaces_as_error_not_garbage() {
    let model = common::default_model();
    let client = XorClient(0x11);
    let evaluator = XorEvaluator {
        model: model.clone(),
        key: 0x5a,
    };
    let service = InferenceService::logistic(&model, &client, &evaluator);
    let patient = patients(&model).remove(0);
    assert!(service.screen(&patient, &mut |_| {}).is_err());
}

#[test]
fn recording_skips_already_stored_patients() {
    let model = common::default_model();
    let client = XorClient(1);
    let evaluator = XorEvaluator {
        model: model.clone(),
        key: 1,
    };
    let service = InferenceService::logistic(&model, &client, &evaluator);
    let store = MemoryStore::default();
    let patient = patients(&model).remove(0);
    let first = service
        .screen_and_record(&store, &FixedClock, &pref("P-1"), &patient, &mut |_| {})
        .expect("ok");
    let again = service
        .screen_and_record(&store, &FixedClock, &pref("P-1"), &patient, &mut |_| {})
        .expect("ok");
    let Recorded::Stored(first) = first else {
        panic!("the first screening is stored");
    };
    match again {
        Recorded::AlreadyStored(stored) => {
            assert_eq!(stored.record.patient_ref, pref("P-1"));
            assert_eq!(stored.record.assessment, first.assessment);
        }
        other => panic!("expected the stored row back, got {other:?}"),
    }
    assert_eq!(store.all().expect("rows").len(), 1);
}

#[test]
fn a_screening_cancelled_during_evaluation_is_not_stored() {
    let model = common::default_model();
    let client = XorClient(1);
    let evaluator = XorEvaluator {
        model: model.clone(),
        key: 1,
    };
    let service = InferenceService::logistic(&model, &client, &evaluator);
    let store = MemoryStore::default();
    let patient = patients(&model).remove(0);
    let mut stages = 0;
    let outcome = service.screen_and_record_unless_cancelled(
        &store,
        &FixedClock,
        &pref("P-1"),
        &patient,
        &mut |_| stages += 1,
        &|| true,
    );
    assert!(matches!(outcome, Err(InferenceError::Cancelled)));
    assert_eq!(
        stages, 4,
        "the evaluation ran before the cancellation was seen"
    );
    assert!(store.all().expect("rows").is_empty());
}

#[derive(Default)]
struct Ledger {
    total: f64,
    entries: Mutex<Vec<LedgerEntry>>,
}
impl Ledger {
    fn with_total(total: f64) -> Self {
        Ledger {
            total,
            entries: Mutex::new(Vec::new()),
        }
    }
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Vec<LedgerEntry>>, PrivacyError> {
        self.entries
            .lock()
            .map_err(|_| PrivacyError::Ledger("poisoned".into()))
    }
}
impl BudgetLedger for Ledger {
    fn try_spend(
        &self,
        query: &str,
        data_version: &str,
        epsilon: f64,
    ) -> Result<i64, PrivacyError> {
        let mut entries = self.lock()?;
        let spent: f64 = entries.iter().map(|e| e.epsilon).sum();
        if spent + epsilon > self.total {
            return Err(PrivacyError::BudgetExceeded {
                requested: epsilon,
                remaining: self.total - spent,
            });
        }
        let id = entries.len() as i64 + 1;
        entries.push(LedgerEntry {
            id,
            at: 0,
            query: query.into(),
            epsilon,
            data_version: data_version.into(),
            result: None,
        });
        Ok(id)
    }
    fn record_result(&self, id: i64, result: &[f64]) -> Result<(), PrivacyError> {
        let mut entries = self.lock()?;
        let entry = entries
            .iter_mut()
            .find(|e| e.id == id)
            .ok_or_else(|| PrivacyError::Ledger("no such entry".into()))?;
        entry.result = Some(result.to_vec());
        Ok(())
    }
    fn find(&self, query: &str, data_version: &str) -> Result<Option<LedgerEntry>, PrivacyError> {
        Ok(self
            .lock()?
            .iter()
            .find(|e| e.query == query && e.data_version == data_version && e.result.is_some())
            .cloned())
    }
    fn status(&self) -> Result<BudgetStatus, PrivacyError> {
        let spent: f64 = self.lock()?.iter().map(|e| e.epsilon).sum();
        Ok(BudgetStatus {
            total: self.total,
            spent,
            remaining: (self.total - spent).max(0.0),
        })
    }
    fn entries(&self) -> Result<Vec<LedgerEntry>, PrivacyError> {
        Ok(self.lock()?.clone())
    }
}

/// Counts how often noise was drawn; adds 0.5 to every true value.
#[derive(Default)]
struct CountingMechanism(Mutex<u32>);
impl PrivacyMechanism for CountingMechanism {
    fn cost(&self, _query: &Query, epsilon: f64) -> Result<f64, PrivacyError> {
        Ok(epsilon)
    }
    fn release(
        &self,
        query: &Query,
        _epsilon: f64,
        data: &Dataset,
    ) -> Result<Vec<f64>, PrivacyError> {
        *self
            .0
            .lock()
            .map_err(|_| PrivacyError::Mechanism("poisoned".into()))? += 1;
        let high = data.high_risk.iter().filter(|h| **h).count() as f64;
        Ok(match query {
            Query::HighRiskCount => vec![high + 0.5],
            _ => vec![data.len() as f64 + 0.5],
        })
    }
}

fn screened_store(model: &pulsecure_core::Model) -> MemoryStore {
    let store = MemoryStore::default();
    let client = XorClient(3);
    let evaluator = XorEvaluator {
        model: model.clone(),
        key: 3,
    };
    let service = InferenceService::logistic(model, &client, &evaluator);
    for (i, p) in patients(model).iter().enumerate() {
        service
            .screen_and_record(
                &store,
                &FixedClock,
                &pref(&format!("P-{i}")),
                p,
                &mut |_| {},
            )
            .expect("ok");
    }
    store
}

/// The window covering every screening stored at `FixedClock`'s time.
fn window() -> Window {
    Window::as_of(1_700_000_001, 1_700_000_001).expect("window ends now")
}

#[test]
fn analytics_spends_before_noise_and_refuses_past_budget() {
    let model = common::default_model();
    let store = screened_store(&model);
    let ledger = Ledger::with_total(1.0);
    let mechanism = CountingMechanism::default();
    let catalog = OneModel(std::sync::Arc::new(common::default_model()));
    let analytics = AnalyticsService::new(&store, &mechanism, &ledger, &catalog);
    let r = analytics
        .release(&Query::HighRiskCount, 0.6, window())
        .expect("within budget");
    assert!(!r.cached);
    assert!((r.budget.remaining - 0.4).abs() < 1e-12);
    assert!(matches!(
        analytics.release(&Query::Histogram, 0.6, window()),
        Err(PrivacyError::BudgetExceeded { .. })
    ));
    assert_eq!(
        *mechanism.0.lock().expect("lock"),
        1,
        "no noise drawn for a refused release"
    );
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(
            analytics.release(&Query::HighRiskCount, bad, window()),
            Err(PrivacyError::InvalidEpsilon)
        );
    }
    let inverted = Query::MeanRisk {
        lower: 10,
        upper: 0,
    };
    assert!(matches!(
        analytics.release(&inverted, 0.1, window()),
        Err(PrivacyError::Query(QueryError::InvertedBounds { .. }))
    ));
    assert!(matches!(
        Query::parse("median", None),
        Err(QueryError::UnknownQuery(_))
    ));
    assert!((ledger.status().expect("ok").remaining - 0.4).abs() < 1e-12);
}

/// A not-eligible row (a published equation's intake decision: no result) is part of no
/// statistic: the dataset the mechanism sees holds the screened rows only.
#[test]
fn not_eligible_rows_are_left_out_of_statistics() {
    use pulsecure_core::domain::equation_intake::IneligibleReason;
    use pulsecure_core::ports::store::ScreeningRecord;
    let model = common::default_model();
    let store = screened_store(&model);
    let screened = store.all().expect("rows").len();
    store
        .save(&ScreeningRecord::not_eligible(
            pref("P-CVD"),
            1_700_000_000,
            model.id(),
            model.version(),
            model.features().len(),
            IneligibleReason::KnownCvd,
        ))
        .expect("stored");
    assert_eq!(store.all().expect("rows").len(), screened + 1);
    let ledger = Ledger::with_total(1.0);
    let mechanism = CountingMechanism::default();
    let catalog = OneModel(std::sync::Arc::new(common::default_model()));
    let analytics = AnalyticsService::new(&store, &mechanism, &ledger, &catalog);
    let counted = analytics
        .release(&Query::Histogram, 0.1, window())
        .expect("released");
    assert_eq!(counted.values, vec![screened as f64 + 0.5]);
}

/// The recorded answer is keyed by the public window, never by the data's own state: a
/// screening added after the window neither changes the answer nor makes the repeat cost
/// anything (before, the cache key held the row count, so a free repeat told whether
/// screenings had been added). A later window is a new release.
#[test]
fn the_recorded_answer_depends_on_the_window_not_on_rows_added_since() {
    let model = common::default_model();
    let store = screened_store(&model);
    let ledger = Ledger::with_total(1.0);
    let mechanism = CountingMechanism::default();
    let catalog = OneModel(std::sync::Arc::new(common::default_model()));
    let analytics = AnalyticsService::new(&store, &mechanism, &ledger, &catalog);
    let first = analytics
        .release(&Query::HighRiskCount, 0.3, window())
        .expect("first");
    let mut later = store.all().expect("rows")[0].record.clone();
    later.patient_ref = pref("P-later");
    later.created_at = 1_700_000_500;
    store.save(&later).expect("save");
    let again = analytics
        .release(&Query::HighRiskCount, 0.3, window())
        .expect("again");
    assert!(again.cached && again.epsilon_charged == 0.0);
    assert_eq!(first.values, again.values);
    assert_eq!(*mechanism.0.lock().expect("lock"), 1);
    let next_window = Window::as_of(1_700_000_501, 1_700_000_600).expect("window");
    let fresh = analytics
        .release(&Query::HighRiskCount, 0.3, next_window)
        .expect("new window");
    assert!(!fresh.cached);
    assert!(matches!(
        Window::as_of(1_700_000_601, 1_700_000_600),
        Err(QueryError::WindowInFuture { ahead: 1 })
    ));
}

#[test]
fn re_asking_over_unchanged_data_returns_the_recorded_answer_for_free() {
    let model = common::default_model();
    let store = screened_store(&model);
    let ledger = Ledger::with_total(1.0);
    let mechanism = CountingMechanism::default();
    let catalog = OneModel(std::sync::Arc::new(common::default_model()));
    let analytics = AnalyticsService::new(&store, &mechanism, &ledger, &catalog);
    let first = analytics
        .release(&Query::HighRiskCount, 0.3, window())
        .expect("first");
    let again = analytics
        .release(&Query::HighRiskCount, 0.3, window())
        .expect("again");
    assert!(again.cached && again.epsilon_charged == 0.0);
    assert_eq!(first.values, again.values);
    assert_eq!(*mechanism.0.lock().expect("lock"), 1);
    assert!((ledger.status().expect("ok").spent - 0.3).abs() < 1e-12);
}

#[test]
fn analytics_refuses_empty_dataset_without_spending() {
    let store = MemoryStore::default();
    let ledger = Ledger::with_total(1.0);
    let mechanism = CountingMechanism::default();
    let catalog = OneModel(std::sync::Arc::new(common::default_model()));
    let analytics = AnalyticsService::new(&store, &mechanism, &ledger, &catalog);
    assert_eq!(
        analytics.release(&Query::HighRiskCount, 0.5, window()),
        Err(PrivacyError::EmptyDataset)
    );
    assert_eq!(ledger.status().expect("ok").spent, 0.0);
}

#[derive(Default)]
struct MemoryRegistry(Mutex<Vec<AcceptedModel>>);
impl ModelRegistry for MemoryRegistry {
    fn accepted(&self, model_id: &str) -> Result<Option<AcceptedModel>, StoreError> {
        Ok(self
            .0
            .lock()
            .map_err(|_| StoreError::Backend("poisoned".into()))?
            .iter()
            .rev()
            .find(|m| m.model_id == model_id)
            .cloned())
    }
    fn record(&self, model: &AcceptedModel) -> Result<(), StoreError> {
        self.0
            .lock()
            .map_err(|_| StoreError::Backend("poisoned".into()))?
            .push(model.clone());
        Ok(())
    }
}

fn release(version: u64, sha: &str) -> AcceptedModel {
    AcceptedModel {
        model_id: "cvd-lr".into(),
        version,
        sha256: sha.into(),
    }
}

#[test]
fn model_service_enforces_anti_rollback() {
    let registry = MemoryRegistry::default();
    let service = ModelService::new(&registry);
    assert_eq!(
        service.install(&release(2, "aa")),
        Ok(InstallOutcome::Installed)
    );
    assert_eq!(
        service.install(&release(2, "aa")),
        Ok(InstallOutcome::AlreadyInstalled)
    );
    assert!(matches!(
        service.install(&release(1, "bb")),
        Err(RollbackError::Older { accepted: 2, .. })
    ));
    assert!(matches!(
        service.install(&release(2, "cc")),
        Err(RollbackError::SameVersionDifferentContent { .. })
    ));
    assert_eq!(
        service.install(&release(3, "dd")),
        Ok(InstallOutcome::Installed)
    );
    assert_eq!(
        registry.accepted("cvd-lr").expect("ok").map(|m| m.version),
        Some(3)
    );
}

#[test]
fn analytics_reads_each_row_through_its_own_model_and_refuses_an_unknown_one() {
    let model = common::default_model();
    let store = screened_store(&model);
    let ledger = Ledger::with_total(1.0);
    let mechanism = CountingMechanism::default();
    let mut other = common::model_value();
    other["model_id"] = serde_json::json!("another-model");
    let other = Model::from_json(&other.to_string()).expect("valid model");
    let catalog = OneModel(std::sync::Arc::new(other));
    let analytics = AnalyticsService::new(&store, &mechanism, &ledger, &catalog);
    assert!(matches!(
        analytics.release(&Query::Histogram, 0.1, window()),
        Err(PrivacyError::Catalog(CatalogError::Unknown { .. }))
    ));
    assert_eq!(ledger.status().expect("ok").spent, 0.0, "nothing spent");
}

#[test]
fn clamp_bounds_outside_the_code_range_are_refused_before_any_arithmetic() {
    for (lower, upper) in [(i64::MIN, 0), (0, i64::MAX), (-1, 10), (0, 4097)] {
        assert!(matches!(
            Query::parse("mean-risk", Some((lower, upper))),
            Err(QueryError::BoundOutOfRange { .. })
        ));
    }
    assert!(Query::parse("mean-risk", Some((0, 4096))).is_ok());
}

/// The queue's transport: prepare at submission, the values kept as a screening row stores
/// them, evaluation elsewhere, finish from the stored values at collection — the same
/// assessment as a direct screening, and another patient's answer refused.
#[test]
fn prepare_and_finish_from_stored_values_equal_a_direct_screening() {
    use pulsecure_core::ports::fhe::Evaluator;
    use pulsecure_core::usecase::client_side::{ClientSide, LogisticSide, StoredFinish};
    use pulsecure_core::usecase::inference::StageTimings;
    use pulsecure_core::usecase::result_check::ResultRefused;

    let model = common::default_model();
    let client = XorClient(0x5a);
    let evaluator = XorEvaluator {
        model: model.clone(),
        key: 0x5a,
    };
    let direct = InferenceService::logistic(&model, &client, &evaluator);
    let side = LogisticSide::new(&model, &client);
    let patients = patients(&model);
    let mut queued = Vec::new();
    for patient in &patients {
        let mut stages = Vec::new();
        let request = side
            .prepare(patient, &mut StageTimings::default(), &mut |s| {
                stages.push(s)
            })
            .expect("prepared");
        assert_eq!(stages, vec![Stage::Normalize, Stage::Encrypt]);
        queued.push((side.stored_values(patient), request));
    }
    let mut refused = 0;
    for (i, (values, request)) in queued.iter().enumerate() {
        let response = evaluator.evaluate(request).expect("evaluated");
        let finished = side
            .finish_stored(values, request, &response)
            .expect("the stored values read back");
        let screened = direct
            .screen(&patients[i], &mut |_| {})
            .expect("screened directly");
        assert_eq!(finished, Ok(screened.assessment), "patient {i}");

        // The next patient's answer, as a swap in the queue would deliver it.
        let (_, other) = &queued[(i + 1) % queued.len()];
        let swapped = evaluator.evaluate(other).expect("evaluated");
        if swapped != response {
            assert_eq!(
                side.finish_stored(values, request, &swapped).expect("read"),
                Err(ResultRefused::DiffersFromReference)
            );
            refused += 1;
        }
    }
    assert!(
        refused > 10,
        "too few distinct answers to test swaps: {refused}"
    );
    // Stored values that are not a patient of this model are an error, not a guess.
    assert!(side.finish_stored(&[1.0e9; 3], &queued[0].1, b"").is_err());
}
