//! `RemoteEvaluator`: the core's `Evaluator` port answered by an evaluator service.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pulsecure_core::ports::fhe::{Evaluator, FheError};
use pulsecure_fhe::wire;
use pulsecure_rpc::v1::EvaluateRequest;

use crate::connection::Connection;

/// Sends each request to the evaluator service and returns its answer. Safe to call from
/// many threads at once: each call is one request in flight.
#[derive(Debug)]
pub struct RemoteEvaluator {
    connection: Arc<Connection>,
    next_id: AtomicU64,
    in_flight: usize,
}

impl RemoteEvaluator {
    /// Evaluate through `connection`; `in_flight` is how many requests a batch should keep
    /// outstanding to keep the evaluator's workers busy.
    pub fn new(connection: Arc<Connection>, in_flight: usize) -> Self {
        RemoteEvaluator {
            connection,
            next_id: AtomicU64::new(1),
            in_flight: in_flight.max(1),
        }
    }

    /// Requests a batch should keep in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The connection.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }
}

impl Evaluator for RemoteEvaluator {
    fn evaluate(&self, request: &[u8]) -> Result<Vec<u8>, FheError> {
        // The binding fields travel beside the frame so the service can refuse an unknown
        // key or model before reading any ciphertext.
        let (model, key_id) = wire::request_binding(request)?;
        let item = EvaluateRequest {
            request_id: self.next_id.fetch_add(1, Ordering::Relaxed),
            key_id: key_id.as_bytes().to_vec(),
            model_fingerprint: model.to_vec(),
            request: request.to_vec(),
        };
        let deadline = self.connection.call_timeout();
        let response = self.connection.call("Evaluate", |mut client| {
            // The deadline travels as grpc-timeout: the evaluator drops the job if it has
            // not started by then.
            let mut call = tonic::Request::new(item.clone());
            call.set_timeout(deadline);
            async move { client.evaluate(call).await.map(tonic::Response::into_inner) }
        })?;
        if response.request_id != item.request_id {
            return Err(FheError::Mismatch {
                what: "result",
                reason: "the evaluator answered another request".into(),
            });
        }
        Ok(response.response)
    }
}
