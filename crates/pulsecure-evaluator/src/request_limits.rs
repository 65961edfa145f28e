//! Bounds on every request, as a tower layer in front of tonic's router:
//!
//! - A server-side timeout on every call: unary calls `unary_timeout` (from the request's
//!   headers to its answer, body included: a half-sent message cannot hold a handler slot
//!   and its buffer forever), key uploads `upload_timeout`; the two streams end on their
//!   handlers' idle timeouts.
//! - A request message must arrive within `message_timeout` of its first byte (a unary
//!   request: of its headers), or the call ends with DEADLINE_EXCEEDED and its buffer is
//!   freed.
//! - A global budget of buffered request bytes: bytes of request messages not yet complete,
//!   over all connections, stay under `buffered_bytes`; beyond it the call that would pass
//!   it ends at once with RESOURCE_EXHAUSTED.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body as HttpBody, Frame};
use tokio::time::Sleep;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::Status;

/// The limits of [`RequestLimitsLayer`].
#[derive(Clone, Debug)]
pub struct RequestLimits {
    /// Longest a unary call may take, its body included.
    pub unary_timeout: Duration,
    /// Longest a key upload may take.
    pub upload_timeout: Duration,
    /// Longest one request message may take to arrive.
    pub message_timeout: Duration,
    /// Bytes of incomplete request messages held at once, over all connections.
    pub buffered_bytes: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            unary_timeout: Duration::from_secs(120),
            upload_timeout: Duration::from_secs(600),
            message_timeout: Duration::from_secs(10),
            buffered_bytes: 64 << 20,
        }
    }
}

/// Bytes in use against a fixed limit.
#[derive(Debug)]
struct Budget {
    limit: usize,
    used: AtomicUsize,
}

impl Budget {
    fn take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    fn give_back(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
}

/// The layer (cheap to clone).
#[derive(Clone, Debug)]
pub struct RequestLimitsLayer {
    limits: Arc<RequestLimits>,
    budget: Arc<Budget>,
}

impl RequestLimitsLayer {
    /// A layer enforcing `limits`.
    pub fn new(limits: RequestLimits) -> Self {
        RequestLimitsLayer {
            budget: Arc::new(Budget {
                limit: limits.buffered_bytes,
                used: AtomicUsize::new(0),
            }),
            limits: Arc::new(limits),
        }
    }
}

impl<S> tower::Layer<S> for RequestLimitsLayer {
    type Service = RequestLimitsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestLimitsService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`RequestLimitsLayer`].
#[derive(Clone, Debug)]
pub struct RequestLimitsService<S> {
    inner: S,
    layer: RequestLimitsLayer,
}

/// How long a call may take, by its path.
fn call_timeout(path: &str, limits: &RequestLimits) -> Option<Duration> {
    match path.rsplit('/').next() {
        // Streams answering as they go: their handlers time out idle streams.
        Some("EvaluateStream" | "Watch") => None,
        Some("PutServerKey") => Some(limits.upload_timeout),
        _ => Some(limits.unary_timeout),
    }
}

fn is_unary(path: &str) -> bool {
    !matches!(
        path.rsplit('/').next(),
        Some("EvaluateStream" | "PutServerKey")
    )
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> tower::Service<http::Request<Body>> for RequestLimitsService<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<tonic::codegen::StdError>,
{
    type Response = http::Response<Body>;
    type Error = tonic::codegen::StdError;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let limits = &self.layer.limits;
        let path = request.uri().path().to_string();
        let timeout = call_timeout(&path, limits);
        let unary = is_unary(&path);
        let (budget, message_timeout) = (Arc::clone(&self.layer.budget), limits.message_timeout);
        let request =
            request.map(|body| Body::new(LimitedBody::new(body, budget, message_timeout, unary)));
        let call = self.inner.call(request);
        Box::pin(async move {
            let Some(limit) = timeout else {
                return call.await.map_err(Into::into);
            };
            match tokio::time::timeout(limit, call).await {
                Ok(answer) => answer.map_err(Into::into),
                Err(_) => Ok(Status::deadline_exceeded(format!(
                    "the call took longer than the server's limit of {} s",
                    limit.as_secs()
                ))
                .into_http()),
            }
        })
    }
}

/// Where the reader is in the gRPC framing of a request body (1 flag byte, 4 length bytes,
/// the message).
#[derive(Debug, Clone, Copy)]
enum Framing {
    Prefix([u8; 5], usize),
    Message(usize),
}

impl Framing {
    /// Feed body bytes; whether they end on a message boundary.
    fn feed(&mut self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            match self {
                Framing::Prefix(prefix, have) => {
                    let take = (5 - *have).min(bytes.len());
                    prefix[*have..*have + take].copy_from_slice(&bytes[..take]);
                    *have += take;
                    bytes = &bytes[take..];
                    if *have == 5 {
                        let length =
                            u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]);
                        *self = match usize::try_from(length) {
                            Ok(0) => Framing::Prefix([0; 5], 0),
                            Ok(n) => Framing::Message(n),
                            Err(_) => Framing::Message(usize::MAX),
                        };
                    }
                }
                Framing::Message(left) => {
                    let take = (*left).min(bytes.len());
                    *left -= take;
                    bytes = &bytes[take..];
                    if *left == 0 {
                        *self = Framing::Prefix([0; 5], 0);
                    }
                }
            }
        }
        matches!(self, Framing::Prefix(_, 0))
    }
}

/// A request body under the message timeout and the byte budget.
struct LimitedBody {
    inner: Body,
    budget: Arc<Budget>,
    held: usize,
    framing: Framing,
    message_timeout: Duration,
    deadline: Option<Pin<Box<Sleep>>>,
    unary: bool,
}

impl LimitedBody {
    fn new(inner: Body, budget: Arc<Budget>, message_timeout: Duration, unary: bool) -> Self {
        LimitedBody {
            inner,
            budget,
            held: 0,
            framing: Framing::Prefix([0; 5], 0),
            message_timeout,
            // A unary request's one message is due from its headers on.
            deadline: unary.then(|| Box::pin(tokio::time::sleep(message_timeout))),
            unary,
        }
    }

    fn release(&mut self) {
        self.budget.give_back(std::mem::take(&mut self.held));
    }
}

impl Drop for LimitedBody {
    fn drop(&mut self) {
        self.release();
    }
}

impl HttpBody for LimitedBody {
    type Data = tonic::codegen::Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if let Some(deadline) = &mut this.deadline {
            if deadline.as_mut().poll(cx).is_ready() {
                this.release();
                return Poll::Ready(Some(Err(Status::deadline_exceeded(format!(
                    "a request message did not arrive within {} s: call ended",
                    this.message_timeout.as_secs()
                )))));
            }
        }
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Ready(Some(Err(status))) => return Poll::Ready(Some(Err(status))),
            Poll::Ready(Some(Ok(frame))) => frame,
        };
        if let Some(data) = frame.data_ref() {
            let n = data.len();
            if !this.budget.take(n) {
                this.release();
                return Poll::Ready(Some(Err(Status::resource_exhausted(
                    "the evaluator's buffer for incoming requests is full; retry later",
                ))));
            }
            this.held += n;
            if this.framing.feed(data) {
                // Whole messages now: tonic hands them to the handler, whose own bounds
                // (queue, in-flight items, concurrent uploads) hold from here.
                this.release();
                if !this.unary {
                    this.deadline = None;
                }
            } else if this.deadline.is_none() {
                this.deadline = Some(Box::pin(tokio::time::sleep(this.message_timeout)));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_finds_message_boundaries() {
        let mut body = vec![0u8, 0, 0, 0, 3, 1, 2, 3];
        body.extend([0u8, 0, 0, 0, 0]);
        body.extend([0u8, 0, 0, 0, 2, 9, 9]);
        let mut framing = Framing::Prefix([0; 5], 0);
        assert!(framing.feed(&body));
        let mut framing = Framing::Prefix([0; 5], 0);
        assert!(!framing.feed(&body[..6]));
        assert!(framing.feed(&body[6..8]));
        assert!(!framing.feed(&body[8..15]));
        assert!(framing.feed(&body[15..]));
    }

    #[test]
    fn the_budget_refuses_beyond_its_limit() {
        let budget = Budget {
            limit: 10,
            used: AtomicUsize::new(0),
        };
        assert!(budget.take(6));
        assert!(!budget.take(5));
        budget.give_back(6);
        assert!(budget.take(10));
    }

    #[test]
    fn streams_have_no_call_timeout_and_uploads_their_own() {
        let limits = RequestLimits::default();
        let path = |m: &str| format!("/pulsecure.evaluator.v1.Evaluator/{m}");
        assert_eq!(call_timeout(&path("EvaluateStream"), &limits), None);
        assert_eq!(
            call_timeout(&path("PutServerKey"), &limits),
            Some(limits.upload_timeout)
        );
        assert_eq!(
            call_timeout(&path("Evaluate"), &limits),
            Some(limits.unary_timeout)
        );
        assert!(is_unary(&path("Evaluate")) && !is_unary(&path("PutServerKey")));
    }
}
