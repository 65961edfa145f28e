//! Message limits of the evaluator API. Both sides use them: the server refuses anything
//! larger, the client never sends it.

/// Largest `EvaluateRequest.request` (a framed set of compressed ciphertexts; a v1 request is
/// a few kilobytes).
pub const MAX_REQUEST_BYTES: usize = 256 << 10;

/// Largest `KeyChunk.data` of a server-key upload.
pub const MAX_CHUNK_BYTES: usize = 1 << 20;

/// Chunk size the client uploads keys with.
pub const UPLOAD_CHUNK_BYTES: usize = 512 << 10;

/// Largest encoded gRPC message either side decodes (a request or chunk plus its fields).
pub const MAX_MESSAGE_BYTES: usize = MAX_CHUNK_BYTES + (64 << 10);

/// Metadata key of the back-off hint sent with RESOURCE_EXHAUSTED when the queue is full.
pub const RETRY_AFTER_MS: &str = "retry-after-ms";
