//! The objects that cross the queue: job ids, new and claimed jobs, outcomes, counts.

use crate::error::QueueError;

/// SHA-256 of a server key's bytes: how jobs name their key.
pub type KeyHash = [u8; 32];

/// An opaque job id: 128 random bits as 32 lowercase hex digits. It says nothing about
/// the patient; only the clinic's sealed database maps it to one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(String);

impl JobId {
    /// A fresh random id.
    pub fn random() -> Result<Self, QueueError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)
            .map_err(|e| QueueError::Corrupt(format!("no randomness for a job id: {e}")))?;
        Ok(JobId(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// Check an id read back (the database or the clinic's store).
    pub fn parse(text: &str) -> Result<Self, QueueError> {
        if text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(JobId(text.to_string()))
        } else {
            Err(QueueError::Corrupt(
                "a job id is not 32 lowercase hex digits".into(),
            ))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A job to enqueue.
#[derive(Clone)]
pub struct NewJob {
    /// Its id (chosen and recorded by the clinic first, so a retry enqueues the same job).
    pub id: JobId,
    /// The server key it needs (stored in the queue first).
    pub key: KeyHash,
    /// The model's fingerprint.
    pub model: [u8; 32],
    /// The encrypted request.
    pub request: Vec<u8>,
}

/// A job a worker holds the lease of.
#[derive(Clone)]
pub struct ClaimedJob {
    /// Its id.
    pub id: JobId,
    /// The server key it needs.
    pub key: KeyHash,
    /// The model's fingerprint.
    pub model: [u8; 32],
    /// The encrypted request (empty when `request_too_large` is set).
    pub request: Vec<u8>,
    /// The size of a request above the worker's limit: it was not read, and the job is to
    /// be failed (see [`ReadLimits`](crate::ReadLimits)).
    pub request_too_large: Option<u64>,
    /// Which attempt this is (1 first); with the worker id, it is the lease.
    pub attempt: i32,
}

impl std::fmt::Debug for ClaimedJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedJob")
            .field("id", &self.id)
            .field("attempt", &self.attempt)
            .field("request_bytes", &self.request.len())
            .finish()
    }
}

/// How a finished job ended.
#[derive(Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The encrypted result.
    Done(Vec<u8>),
    /// It failed on its last attempt; the reason recorded (at most
    /// [`MAX_FAILURE_CHARS`](crate::MAX_FAILURE_CHARS) characters of it).
    Failed(String),
    /// It is done, but its result is larger than the reader's limit: not read.
    ResultTooLarge {
        /// The result's size in the database.
        bytes: u64,
        /// The limit it exceeds.
        limit: u64,
    },
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Done(bytes) => write!(f, "Done({} bytes)", bytes.len()),
            Outcome::Failed(reason) => write!(f, "Failed({reason})"),
            Outcome::ResultTooLarge { bytes, limit } => {
                write!(f, "ResultTooLarge({bytes} bytes, limit {limit})")
            }
        }
    }
}

/// Jobs by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Waiting for a worker.
    pub queued: u64,
    /// Leased by a worker.
    pub running: u64,
    /// Finished with a result.
    pub done: u64,
    /// Failed for good.
    pub failed: u64,
}

impl Counts {
    /// Every job counted.
    pub fn total(&self) -> u64 {
        self.queued + self.running + self.done + self.failed
    }

    /// Jobs not finished yet.
    pub fn pending(&self) -> u64 {
        self.queued + self.running
    }
}
