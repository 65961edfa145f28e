//! The largest values the queue hands over, by their known maxima.
//!
//! Anyone who can write to the queue's database can put a value of any size in a row. Every
//! read that transfers a request, a result, a server key or a failure reason is bounded in
//! SQL (`CASE WHEN octet_length(x) <= limit THEN x END`, `left(text, n)`): an oversize value
//! is never sent to the reader; its size is, and the job is refused with a clear reason.

/// Largest request read by a worker: `pulsecure_rpc::limits::MAX_REQUEST_BYTES` (a v1
/// request is 2.7 KB). The evaluator checks that the two agree.
pub const MAX_REQUEST_BYTES: u64 = 256 << 10;

/// Largest result read by a client: `pulsecure_rpc::limits::MAX_RESULT_BYTES` (a compressed
/// cvd-lr result is 1 437 B; the uncompressed results of older evaluators, 66 KB, still fit,
/// so they are reported as such rather than as oversized). The app checks that the two agree.
pub const MAX_RESULT_BYTES: u64 = 256 << 10;

/// Largest server key read by a worker: the evaluator's `MAX_KEY_BYTES`, beyond which its
/// key store refuses a key anyway (a compressed key is 30 MB). The evaluator checks that the
/// two agree.
pub const MAX_KEY_BYTES: u64 = 128 << 20;

/// Most characters of a failure reason read back (a worker's reasons are one line).
pub const MAX_FAILURE_CHARS: i32 = 1000;

/// The bounds of one connection's reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadLimits {
    /// Largest request a worker reads.
    pub request: u64,
    /// Largest result a client reads.
    pub result: u64,
    /// Largest server key a worker reads.
    pub key: u64,
}

impl Default for ReadLimits {
    /// The known maxima above.
    fn default() -> Self {
        ReadLimits {
            request: MAX_REQUEST_BYTES,
            result: MAX_RESULT_BYTES,
            key: MAX_KEY_BYTES,
        }
    }
}

/// A byte count for a SQL parameter (`bigint`).
pub(crate) fn sql_bytes(limit: u64) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
