//! Ready evaluators (decompressed server key + compiled model), at most `capacity` of them,
//! least recently used evicted first. Building one decompresses the key (about 120 MB and
//! a second or two), so it happens once per key and model, not per request.

use std::sync::{Arc, Mutex};

use pulsecure_core::ports::fhe::{Evaluator, FheError};
use pulsecure_core::Model;
use pulsecure_fhe::circuit::PbsCount;
use pulsecure_fhe::{EquationEvaluator, ServerKeyId, TfheEvaluator};

use crate::key_store::{KeyStore, KeyStoreError};
use crate::model_shelf::ShelvedModel;

/// A ready evaluator of either schema: one server key compiled with one model.
#[derive(Clone, Debug)]
pub enum Engine {
    /// A schema-1 (`cvd-lr`) evaluator.
    Logistic(Arc<TfheEvaluator>),
    /// A schema-2 (published equation) evaluator.
    Equation(Arc<EquationEvaluator>),
}

impl Engine {
    /// Evaluate one request frame; the response frame and the bootstrappings it took.
    pub fn evaluate_with_stats(&self, request: &[u8]) -> Result<(Vec<u8>, PbsCount), FheError> {
        match self {
            Engine::Logistic(e) => e.evaluate_with_stats(request),
            // A linear map: no bootstrapping.
            Engine::Equation(e) => Ok((
                Evaluator::evaluate(e.as_ref(), request)?,
                PbsCount::default(),
            )),
        }
    }

    fn build(server_key: &[u8], model: &ShelvedModel) -> Result<Self, FheError> {
        match model {
            ShelvedModel::Logistic(m) => Ok(Engine::Logistic(Arc::new(TfheEvaluator::new(
                server_key, m,
            )?))),
            ShelvedModel::Equation(m) => Ok(Engine::Equation(Arc::new(EquationEvaluator::new(
                server_key, m,
            )?))),
        }
    }
}

type Entry = ((ServerKeyId, [u8; 32]), Engine);

/// A bounded cache of evaluators by (key id, model fingerprint).
#[derive(Debug)]
pub struct EvaluatorCache {
    capacity: usize,
    /// Most recently used last.
    entries: Mutex<Vec<Entry>>,
}

/// Why an evaluator could not be had.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The key is not stored, or could not be read.
    #[error(transparent)]
    Key(#[from] KeyStoreError),
    /// The stored key or the model was refused by the TFHE adapter.
    #[error(transparent)]
    Fhe(#[from] FheError),
}

impl EvaluatorCache {
    /// A cache holding at most `capacity` evaluators (at least one).
    pub fn new(capacity: usize) -> Self {
        EvaluatorCache {
            capacity: capacity.max(1),
            entries: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        // A panic while holding the lock leaves a consistent Vec; keep serving.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Evaluators currently held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// The key ids with an evaluator ready, most recently used last.
    pub fn key_ids(&self) -> Vec<ServerKeyId> {
        self.lock().iter().map(|((id, _), _)| *id).collect()
    }

    /// Whether an evaluator of key `id` for the model with this fingerprint is ready (a
    /// request for it costs no key decompression).
    pub fn contains(&self, id: &ServerKeyId, fingerprint: &[u8; 32]) -> bool {
        self.lock()
            .iter()
            .any(|((k, f), _)| k == id && f == fingerprint)
    }

    /// Forget every evaluator of key `id` (after the key was deleted).
    pub fn evict_key(&self, id: &ServerKeyId) {
        self.lock().retain(|((k, _), _)| k != id);
    }

    /// The schema-1 evaluator of key `id` for `model` (see [`Self::engine`]).
    pub fn get(
        &self,
        store: &KeyStore,
        id: &ServerKeyId,
        model: &Model,
    ) -> Result<Arc<TfheEvaluator>, CacheError> {
        let shelved = ShelvedModel::Logistic(Arc::new(model.clone()));
        match self.engine(store, id, &shelved)? {
            Engine::Logistic(e) => Ok(e),
            Engine::Equation(_) => Err(CacheError::Fhe(FheError::UnsupportedModel(
                "a schema-1 model built a schema-2 evaluator".into(),
            ))),
        }
    }

    /// The evaluator of key `id` for `model`: from the cache (marked most recently used),
    /// or built from the stored key and inserted, evicting the least recently used one
    /// beyond capacity. Built outside the lock, so other keys keep being served meanwhile.
    pub fn engine(
        &self,
        store: &KeyStore,
        id: &ServerKeyId,
        model: &ShelvedModel,
    ) -> Result<Engine, CacheError> {
        let slot = (*id, model.fingerprint());
        {
            let mut entries = self.lock();
            if let Some(at) = entries.iter().position(|(k, _)| *k == slot) {
                let entry = entries.remove(at);
                let evaluator = entry.1.clone();
                entries.push(entry);
                return Ok(evaluator);
            }
        }
        let bytes = store.read(id)?;
        let evaluator = Engine::build(&bytes, model)?;
        let mut entries = self.lock();
        if let Some(at) = entries.iter().position(|(k, _)| *k == slot) {
            // Built concurrently by another request: keep the first.
            let entry = entries.remove(at);
            let first = entry.1.clone();
            entries.push(entry);
            return Ok(first);
        }
        entries.push((slot, evaluator.clone()));
        while entries.len() > self.capacity {
            entries.remove(0);
        }
        Ok(evaluator)
    }
}
