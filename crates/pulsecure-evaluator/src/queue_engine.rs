//! The evaluator as a queue worker's engine: the same key store, evaluator cache and signed
//! model shelf as the gRPC service, fed by jobs from the PostgreSQL queue instead of
//! requests. Keys arrive from the queue's key table and pass the same checks as an upload
//! (hash, size, tfhe's conformance for this build's parameters) before they are kept.

use std::collections::HashMap;
use std::sync::Mutex;

use pulsecure_fhe::ServerKeyId;
use pulsecure_queue::{ClaimedJob, JobEngine, KeyHash};

use crate::cache::{CacheError, EvaluatorCache};
use crate::execution::fhe_pool;
use crate::key_store::KeyStore;
use crate::model_shelf::ModelShelf;

/// The FHE engine of a queue worker.
pub struct QueueEngine {
    store: KeyStore,
    cache: EvaluatorCache,
    shelf: ModelShelf,
    pool: rayon::ThreadPool,
    /// Full SHA-256 of each key seen, by its key id (the hash's first 16 bytes).
    hashes: Mutex<HashMap<ServerKeyId, KeyHash>>,
}

impl std::fmt::Debug for QueueEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueEngine")
            .field("cached_keys", &self.cache.len())
            .finish()
    }
}

impl QueueEngine {
    /// An engine over `store` and `shelf`, keeping `max_cached_keys` evaluators ready and
    /// running evaluations on `threads` threads.
    pub fn new(
        store: KeyStore,
        shelf: ModelShelf,
        max_cached_keys: usize,
        threads: usize,
    ) -> Result<Self, rayon::ThreadPoolBuildError> {
        Ok(QueueEngine {
            store,
            cache: EvaluatorCache::new(max_cached_keys),
            shelf,
            pool: fhe_pool(threads)?,
            hashes: Mutex::new(HashMap::new()),
        })
    }

    fn hashes(&self) -> std::sync::MutexGuard<'_, HashMap<ServerKeyId, KeyHash>> {
        self.hashes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl JobEngine for QueueEngine {
    fn warm_keys(&self) -> Vec<KeyHash> {
        let hashes = self.hashes();
        self.cache
            .key_ids()
            .iter()
            .filter_map(|id| hashes.get(id).copied())
            .collect()
    }

    fn has_key(&self, hash: &KeyHash) -> bool {
        let id = ServerKeyId::from_sha256(hash);
        let held = self.store.has(&id);
        if held {
            self.hashes().insert(id, *hash);
        }
        held
    }

    fn add_key(&self, hash: &KeyHash, bytes: Vec<u8>) -> Result<(), String> {
        let id = ServerKeyId::from_sha256(hash);
        let mut upload = self.store.begin_upload();
        upload.push(&bytes).map_err(|e| e.to_string())?;
        upload.finish(Some(&id)).map_err(|e| e.to_string())?;
        self.hashes().insert(id, *hash);
        tracing::info!(key = %id.short(), "server key downloaded from the queue and checked");
        Ok(())
    }

    fn evaluate(&self, job: &ClaimedJob) -> Result<Vec<u8>, String> {
        let served = self.shelf.find(&job.model).ok_or_else(|| {
            "the job's model is not served by this worker (install the signed release)".to_string()
        })?;
        let id = ServerKeyId::from_sha256(&job.key);
        let evaluator =
            self.cache
                .engine(&self.store, &id, &served.model)
                .map_err(|e| match e {
                    CacheError::Key(k) => k.to_string(),
                    CacheError::Fhe(f) => f.to_string(),
                })?;
        self.pool
            .install(|| evaluator.evaluate_with_stats(&job.request))
            .map(|(bytes, _)| bytes)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    /// The queue bounds what a worker reads by the limits the service enforces: a request
    /// the service would refuse, or a key its store would refuse, is never read.
    #[test]
    fn the_queue_reads_by_the_service_limits() {
        assert_eq!(
            pulsecure_queue::MAX_REQUEST_BYTES,
            pulsecure_rpc::limits::MAX_REQUEST_BYTES as u64
        );
        assert_eq!(
            pulsecure_queue::MAX_KEY_BYTES,
            crate::key_store::MAX_KEY_BYTES
        );
    }
}
