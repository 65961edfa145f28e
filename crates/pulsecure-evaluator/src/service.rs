//! The gRPC service `pulsecure.evaluator.v1.Evaluator`: checks every field before any work,
//! admits evaluations through the [`Executor`], and answers each refusal with a precise
//! status. Logs carry the method, sizes, status and a key-id prefix — never request bytes.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pulsecure_core::ports::fhe::FheError;
use pulsecure_fhe::ServerKeyId;
use pulsecure_rpc::limits::{MAX_CHUNK_BYTES, MAX_REQUEST_BYTES, RETRY_AFTER_MS};
use pulsecure_rpc::v1::evaluator_server::Evaluator;
use pulsecure_rpc::v1::{
    DeleteKeyResponse, EvaluateRequest, EvaluateResponse, GetStatusRequest, GetStatusResponse,
    HasKeyResponse, ItemError, KeyChunk, KeyRef, Limits, ModelInfo, PutServerKeyResponse,
};
use tokio::sync::{mpsc, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Code, Request, Response, Status, Streaming};

use crate::cache::{CacheError, EvaluatorCache};
use crate::execution::{ExecutionError, Executor};
use crate::key_store::{KeyQuota, KeyStore, KeyStoreError, MAX_KEY_BYTES};
use crate::metrics::Metrics;
use crate::model_shelf::{ModelShelf, ShelvedModel};
use crate::peer::{Peer, PeerIdentity};
use crate::tenants::MissLimiter;

/// Timeouts and bounds of client behaviour (besides the executor's queue).
#[derive(Clone, Debug)]
pub struct ClientLimits {
    /// Longest wait for the next message of a stream (an idle or stalled client).
    pub idle: Duration,
    /// Longest a whole key upload may take (a client that uploads forever).
    pub upload: Duration,
    /// Key uploads received at once (each is held in memory until checked).
    pub concurrent_uploads: usize,
    /// Evaluations one stream may have in flight.
    pub per_stream_in_flight: usize,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            idle: Duration::from_secs(30),
            upload: Duration::from_secs(600),
            concurrent_uploads: 2,
            per_stream_in_flight: 8,
        }
    }
}

/// Who may do what with keys, and how much (issue 30: tenants).
#[derive(Clone, Debug)]
pub struct Tenancy {
    /// Identities that may see and delete every key and read the status details.
    pub operators: Vec<PeerIdentity>,
    /// Keys per identity and bytes of all keys.
    pub quota: KeyQuota,
    /// Cache misses (a stored key decompressed: about 0.4 s of CPU) one identity may cause
    /// per minute.
    pub misses_per_minute: u32,
}

impl Default for Tenancy {
    fn default() -> Self {
        Tenancy {
            operators: Vec::new(),
            quota: KeyQuota::default(),
            misses_per_minute: 30,
        }
    }
}

/// Everything a request handler needs.
#[derive(Debug)]
struct Shared {
    store: KeyStore,
    cache: EvaluatorCache,
    max_cached_keys: usize,
    shelf: ModelShelf,
    executor: Executor,
    uploads: Semaphore,
    limits: ClientLimits,
    tenancy: Tenancy,
    misses: MissLimiter,
    metrics: Arc<Metrics>,
}

/// The evaluator service (cheap to clone: handlers share one state).
#[derive(Clone, Debug)]
pub struct EvaluatorService {
    shared: Arc<Shared>,
}

impl EvaluatorService {
    /// Serve `shelf`'s models with the keys of `store`, under `tenancy`.
    pub fn new(
        store: KeyStore,
        shelf: ModelShelf,
        executor: Executor,
        max_cached_keys: usize,
        limits: ClientLimits,
        tenancy: Tenancy,
        metrics: Arc<Metrics>,
    ) -> Self {
        EvaluatorService {
            shared: Arc::new(Shared {
                store,
                cache: EvaluatorCache::new(max_cached_keys),
                max_cached_keys: max_cached_keys.max(1),
                shelf,
                uploads: Semaphore::new(limits.concurrent_uploads.max(1)),
                executor,
                limits,
                misses: MissLimiter::new(tenancy.misses_per_minute),
                tenancy,
                metrics,
            }),
        }
    }

    /// The metrics' gauges now.
    pub fn gauges(&self) -> crate::metrics::Gauges {
        let s = &self.shared;
        crate::metrics::Gauges {
            queue_depth: s.executor.depth(),
            cached_keys: s.cache.len(),
            stored_keys: s.store.list().map(|keys| keys.len()).unwrap_or(0),
        }
    }

    /// Stop admitting evaluations (in-flight ones finish).
    pub fn close(&self) {
        self.shared.executor.close();
    }
}

fn key_id(bytes: &[u8]) -> Result<ServerKeyId, Status> {
    ServerKeyId::from_slice(bytes).ok_or_else(|| {
        Status::invalid_argument(format!("key_id must be 16 bytes, got {}", bytes.len()))
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The connection's peer, as the accept loop recorded it.
fn peer_of<T>(request: &Request<T>) -> Peer {
    request.extensions().get::<Peer>().cloned().unwrap_or(Peer {
        identity: None,
        certificate_sha256: None,
    })
}

fn fhe_status(e: &FheError) -> Status {
    match e {
        FheError::Malformed { .. } | FheError::Mismatch { .. } => {
            Status::invalid_argument(e.to_string())
        }
        FheError::UnsupportedModel(_) => Status::failed_precondition(e.to_string()),
        FheError::Unavailable(_) => Status::unavailable(e.to_string()),
        FheError::KeyUnknown => Status::not_found(e.to_string()),
        FheError::ModelUnknown(_) => Status::failed_precondition(e.to_string()),
        FheError::Busy(_) => Status::resource_exhausted(e.to_string()),
        FheError::Evaluation(_) => Status::internal(e.to_string()),
    }
}

fn execution_status(e: ExecutionError, workers: usize) -> Status {
    match e {
        ExecutionError::QueueFull(_) => {
            let mut status = Status::resource_exhausted(format!("{e}; retry later"));
            // One evaluation's worth of waiting per worker is a fair first back-off.
            let hint = (1000 / workers.max(1)).max(100).to_string();
            if let Ok(value) = hint.parse() {
                status.metadata_mut().insert(RETRY_AFTER_MS, value);
            }
            status
        }
        ExecutionError::ShuttingDown => Status::unavailable(e.to_string()),
        ExecutionError::Panicked => Status::internal(e.to_string()),
    }
}

impl Shared {
    /// Check, admit and run one evaluation.
    /// Whether `peer` is one of the operators.
    fn is_operator(&self, peer: &Peer) -> bool {
        peer.identity
            .is_some_and(|id| self.tenancy.operators.contains(&id))
    }

    /// Whether `peer` may use key `id`: it owns it, or it is an operator. A key of another
    /// identity is, to this peer, a key not held.
    fn may_use(&self, peer: &Peer, id: &ServerKeyId) -> bool {
        if !self.store.has(id) {
            return false;
        }
        self.is_operator(peer)
            || peer
                .identity
                .is_some_and(|who| self.store.is_owned_by(id, &who.to_text()))
    }

    async fn evaluate(
        self: &Arc<Self>,
        item: EvaluateRequest,
        peer: &Peer,
    ) -> Result<EvaluateResponse, Status> {
        if item.request.len() > MAX_REQUEST_BYTES {
            return Err(Status::resource_exhausted(format!(
                "request of {} bytes exceeds the limit of {MAX_REQUEST_BYTES}",
                item.request.len()
            )));
        }
        let key = key_id(&item.key_id)?;
        let Some(served) = self.shelf.find(&item.model_fingerprint) else {
            return Err(Status::failed_precondition(format!(
                "model {} is not served by this evaluator",
                hex(&item.model_fingerprint)
            )));
        };
        if !self.may_use(peer, &key) {
            return Err(Status::not_found(format!(
                "server key {} is not held by this evaluator: upload it first",
                key.short()
            )));
        }
        // The frame and every ciphertext are checked before the key cache is touched: a
        // request refused anyway costs no key decompression.
        let fingerprint = served.fingerprint;
        check_request(&served.model, &item.request, &fingerprint, &key)
            .map_err(|e| fhe_status(&e))?;
        if !self.cache.contains(&key, &fingerprint) {
            let who = peer.identity.map(|id| id.to_text()).unwrap_or_default();
            if let Err(wait) = self.misses.check(&who) {
                let mut status = Status::resource_exhausted(
                    "too many server keys loaded for this identity lately; retry later",
                );
                if let Ok(value) = wait.as_millis().max(100).to_string().parse() {
                    status.metadata_mut().insert(RETRY_AFTER_MS, value);
                }
                return Err(status);
            }
        }
        let model = served.model.clone();
        let admission = self
            .executor
            .admit()
            .map_err(|e| execution_status(e, self.executor.workers()))?;
        let shared = Arc::clone(self);
        let request_id = item.request_id;
        let outcome = self
            .executor
            .run(admission, move || {
                let evaluator = shared
                    .cache
                    .engine(&shared.store, &key, &model)
                    .map_err(|e| match e {
                        CacheError::Key(KeyStoreError::Unknown(_)) => Status::not_found(format!(
                            "server key {} is not held by this evaluator: upload it first",
                            key.short()
                        )),
                        CacheError::Key(other) => Status::internal(other.to_string()),
                        CacheError::Fhe(fhe) => fhe_status(&fhe),
                    })?;
                let started = Instant::now();
                let (response, count) = evaluator
                    .evaluate_with_stats(&item.request)
                    .map_err(|e| fhe_status(&e))?;
                let elapsed = started.elapsed();
                shared.metrics.evaluated(elapsed, count.total() as u64);
                Ok(EvaluateResponse {
                    request_id,
                    response,
                    bootstrappings: count.total() as u32,
                    levels: count.depth as u32,
                    evaluate_micros: elapsed.as_micros() as u64,
                    error: None,
                })
            })
            .await
            .map_err(|e| execution_status(e, self.executor.workers()))?;
        outcome
    }

    fn log(&self, method: &'static str, status: &Result<(), Code>, detail: &str, peer: &Peer) {
        let code = match status {
            Ok(()) => Code::Ok,
            Err(code) => *code,
        };
        self.metrics.request(method, code);
        tracing::info!(
            method,
            status = ?code,
            peer = %peer.identity.map(|id| id.to_text()).unwrap_or_else(|| "-".into()),
            certificate = %peer.fingerprint_text(),
            "{detail}"
        );
    }
}

fn outcome<T>(result: &Result<T, Status>) -> Result<(), Code> {
    result.as_ref().map(|_| ()).map_err(Status::code)
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<EvaluateResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Evaluator for EvaluatorService {
    async fn get_status(
        &self,
        request: Request<GetStatusRequest>,
    ) -> Result<Response<GetStatusResponse>, Status> {
        let s = &self.shared;
        let peer = peer_of(&request);
        let operator = s.is_operator(&peer);
        let models = s
            .shelf
            .models()
            .iter()
            .map(|m| ModelInfo {
                id: m.model.id().to_string(),
                version: m.model.version() as u32,
                fingerprint: m.fingerprint.to_vec(),
                bootstrappings: m.cost.total() as u32,
                levels: m.cost.depth as u32,
            })
            .collect();
        let response = GetStatusResponse {
            server_version: env!("CARGO_PKG_VERSION").to_string(),
            parameters: pulsecure_fhe::params::PARAMETERS_NAME.to_string(),
            models,
            limits: Some(Limits {
                max_request_bytes: MAX_REQUEST_BYTES as u64,
                max_key_bytes: MAX_KEY_BYTES,
                max_chunk_bytes: MAX_CHUNK_BYTES as u64,
                workers: s.executor.workers() as u32,
                max_queue: s.executor.max_queue() as u32,
                max_cached_keys: s.max_cached_keys as u32,
            }),
            // Load and cache contents are the operators' business only.
            queue_depth: if operator {
                s.executor.depth() as u32
            } else {
                0
            },
            cached_keys: if operator { s.cache.len() as u32 } else { 0 },
        };
        s.log("GetStatus", &Ok(()), "status", &peer);
        Ok(Response::new(response))
    }

    async fn has_key(&self, request: Request<KeyRef>) -> Result<Response<HasKeyResponse>, Status> {
        let peer = peer_of(&request);
        let result =
            key_id(&request.get_ref().key_id).map(|id| (id, self.shared.may_use(&peer, &id)));
        let detail = match &result {
            Ok((id, present)) => format!("key {} present={present}", id.short()),
            Err(_) => "bad key id".into(),
        };
        self.shared.log("HasKey", &outcome(&result), &detail, &peer);
        result.map(|(_, present)| Response::new(HasKeyResponse { present }))
    }

    async fn put_server_key(
        &self,
        request: Request<Streaming<KeyChunk>>,
    ) -> Result<Response<PutServerKeyResponse>, Status> {
        let peer = peer_of(&request);
        let s = Arc::clone(&self.shared);
        let result = tokio::time::timeout(
            s.limits.upload,
            receive_key(&s, request.into_inner(), &peer),
        )
        .await
        .unwrap_or_else(|_| {
            Err(Status::deadline_exceeded(format!(
                "the key upload took longer than {} s; nothing was kept",
                s.limits.upload.as_secs()
            )))
        });
        let detail = match &result {
            Ok(r) => format!(
                "key {} stored ({} bytes)",
                key_id(&r.key_id).map_or_else(|_| "-".into(), |id| id.short()),
                r.bytes_received
            ),
            Err(e) => format!("upload refused: {}", e.message()),
        };
        s.log("PutServerKey", &outcome(&result), &detail, &peer);
        result.map(Response::new)
    }

    async fn delete_key(
        &self,
        request: Request<KeyRef>,
    ) -> Result<Response<DeleteKeyResponse>, Status> {
        let peer = peer_of(&request);
        let s = &self.shared;
        let result = key_id(&request.get_ref().key_id).and_then(|id| {
            // An operator deletes the key; an owner gives up its share (the key goes with
            // its last owner); anyone else is told the key was not held, and nothing changes.
            let deleted = if s.is_operator(&peer) {
                s.store.delete(&id)
            } else if let Some(who) = peer.identity {
                s.store.release(&id, &who.to_text())
            } else {
                Ok(false)
            }
            .map_err(|e| Status::internal(e.to_string()))?;
            if !s.store.has(&id) {
                s.cache.evict_key(&id);
            }
            Ok((id, deleted))
        });
        let detail = match &result {
            Ok((id, deleted)) => format!("key {} deleted={deleted}", id.short()),
            Err(e) => e.message().to_string(),
        };
        s.log("DeleteKey", &outcome(&result), &detail, &peer);
        result.map(|(_, deleted)| Response::new(DeleteKeyResponse { deleted }))
    }

    async fn evaluate(
        &self,
        request: Request<EvaluateRequest>,
    ) -> Result<Response<EvaluateResponse>, Status> {
        let peer = peer_of(&request);
        let item = request.into_inner();
        let size = item.request.len();
        let prefix =
            ServerKeyId::from_slice(&item.key_id).map_or_else(|| "-".into(), |id| id.short());
        let result = self.shared.evaluate(item, &peer).await;
        let detail = match &result {
            Ok(r) => format!(
                "key {prefix}: {size} bytes in, {} bytes out, {} µs",
                r.response.len(),
                r.evaluate_micros
            ),
            Err(e) => format!("key {prefix}: {size} bytes in, refused: {}", e.message()),
        };
        self.shared
            .log("Evaluate", &outcome(&result), &detail, &peer);
        result.map(Response::new)
    }

    type EvaluateStreamStream = ResponseStream;

    async fn evaluate_stream(
        &self,
        request: Request<Streaming<EvaluateRequest>>,
    ) -> Result<Response<Self::EvaluateStreamStream>, Status> {
        let peer = peer_of(&request);
        let mut incoming = request.into_inner();
        let s = Arc::clone(&self.shared);
        let in_flight = s.limits.per_stream_in_flight.max(1);
        let (tx, rx) = mpsc::channel(in_flight);
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(in_flight));
            let mut items = 0u64;
            let ending = loop {
                // Back-pressure: the next item is read only when a slot is free.
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    break Ok(());
                };
                let next = match tokio::time::timeout(s.limits.idle, incoming.message()).await {
                    Err(_) => {
                        break Err(Status::deadline_exceeded(format!(
                            "no message for {} s: stream closed",
                            s.limits.idle.as_secs()
                        )))
                    }
                    Ok(Err(status)) => break Err(status),
                    Ok(Ok(None)) => break Ok(()),
                    Ok(Ok(Some(item))) => item,
                };
                items += 1;
                let (s, tx, peer) = (Arc::clone(&s), tx.clone(), peer.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    let request_id = next.request_id;
                    let answer = match s.evaluate(next, &peer).await {
                        Ok(response) => response,
                        Err(status) => EvaluateResponse {
                            request_id,
                            error: Some(ItemError {
                                code: status.code() as i32,
                                message: status.message().to_string(),
                            }),
                            ..Default::default()
                        },
                    };
                    let _ = tx.send(Ok(answer)).await;
                });
            };
            // Wait for every item in flight before ending the stream.
            let _ = slots.acquire_many(in_flight as u32).await;
            let result = match ending {
                Ok(()) => Ok(()),
                Err(status) => {
                    let code = status.code();
                    let _ = tx.send(Err(status)).await;
                    Err(code)
                }
            };
            s.log("EvaluateStream", &result, &format!("{items} items"), &peer);
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// Receive a key upload: bounded, hashed as it arrives, checked, then stored.
async fn receive_key(
    s: &Arc<Shared>,
    mut chunks: Streaming<KeyChunk>,
    peer: &Peer,
) -> Result<PutServerKeyResponse, Status> {
    let Some(owner) = peer.identity.map(|id| id.to_text()) else {
        return Err(Status::permission_denied(
            "the evaluator could not tell who is uploading; a key needs an owner",
        ));
    };
    let quota = s.tenancy.quota;
    let quota_status = |e: KeyStoreError| match e {
        KeyStoreError::Quota(_) => Status::resource_exhausted(e.to_string()),
        other => Status::internal(other.to_string()),
    };
    let _permit = s.uploads.try_acquire().map_err(|_| {
        let mut status =
            Status::resource_exhausted("other key uploads are in progress; retry later");
        status.metadata_mut().insert(
            RETRY_AFTER_MS,
            tonic::metadata::MetadataValue::from(1000u32),
        );
        status
    })?;
    let mut upload = s.store.begin_upload();
    let mut announced: Option<ServerKeyId> = None;
    let mut first = true;
    loop {
        let chunk = match tokio::time::timeout(s.limits.idle, chunks.message()).await {
            Err(_) => {
                return Err(Status::deadline_exceeded(format!(
                    "no key chunk for {} s; nothing was kept",
                    s.limits.idle.as_secs()
                )))
            }
            Ok(message) => message?,
        };
        let Some(chunk) = chunk else { break };
        if chunk.data.len() > MAX_CHUNK_BYTES {
            return Err(Status::invalid_argument(format!(
                "key chunk of {} bytes exceeds the limit of {MAX_CHUNK_BYTES}",
                chunk.data.len()
            )));
        }
        if !chunk.key_id.is_empty() {
            if !first {
                return Err(Status::invalid_argument(
                    "key_id may be announced in the first chunk only",
                ));
            }
            announced = Some(key_id(&chunk.key_id)?);
        }
        if first {
            // Refuse before receiving tens of megabytes: a new key beyond the quota.
            let known = announced.is_some_and(|id| s.store.is_owned_by(&id, &owner));
            if !known {
                let id = announced.unwrap_or_default();
                s.store
                    .check_quota(&owner, &quota, MAX_CHUNK_BYTES as u64, &id)
                    .map_err(quota_status)?;
            }
        }
        first = false;
        upload.push(&chunk.data).map_err(|e| match e {
            KeyStoreError::TooLarge { .. } => Status::resource_exhausted(e.to_string()),
            other => Status::internal(other.to_string()),
        })?;
    }
    let received = upload.received();
    if received == 0 {
        return Err(Status::invalid_argument("empty key upload"));
    }
    // The conformance check reads the whole key: off the async threads' hot path.
    let id = tokio::task::block_in_place(|| {
        upload.finish_for(announced.as_ref(), Some((&owner, &quota)))
    })
    .map_err(|e| match e {
        KeyStoreError::Invalid(_) | KeyStoreError::WrongId { .. } => {
            Status::invalid_argument(e.to_string())
        }
        KeyStoreError::Quota(_) => Status::resource_exhausted(e.to_string()),
        other => Status::internal(other.to_string()),
    })?;
    Ok(PutServerKeyResponse {
        key_id: id.as_bytes().to_vec(),
        bytes_received: received,
    })
}

/// The checks a request passes before any key is touched: for a schema-1 model the frame
/// and every ciphertext (`pulsecure_fhe::check_request`); for a schema-2 model the frame and
/// its binding to the model and key (its ciphertexts are checked as the evaluator decodes
/// them, before any bootstrapping).
fn check_request(
    model: &ShelvedModel,
    request: &[u8],
    fingerprint: &[u8; 32],
    key: &pulsecure_fhe::ServerKeyId,
) -> Result<(), pulsecure_core::ports::fhe::FheError> {
    match model {
        ShelvedModel::Logistic(_) => {
            pulsecure_fhe::check_request(request, fingerprint, key).map(|_| ())
        }
        ShelvedModel::Equation(_) => {
            let envelope =
                pulsecure_fhe::wire::read(pulsecure_fhe::wire::REQUEST_MAGIC, request, "request")?;
            envelope.check_binding(fingerprint, key, "request")
        }
    }
}
