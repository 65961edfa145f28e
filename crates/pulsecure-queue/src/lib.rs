//! The PostgreSQL job queue behind population screening.
//!
//! The clinic encrypts each patient locally and enqueues only ciphertext under a random
//! [`JobId`]; evaluator workers on any number of machines claim jobs with
//! `SELECT … FOR UPDATE SKIP LOCKED` under a lease (worker id, attempt, expiry), evaluate,
//! and write the result and the job's completion in one statement. Leases that expire
//! (a worker killed or paused) are taken back; a job whose attempts are used up fails with
//! its reason recorded instead of blocking the queue. `LISTEN/NOTIFY` wakes idle workers and
//! waiting clients, with polling as the fallback. Server keys are stored once, addressed by
//! their SHA-256. The schema is managed by [`migrations`](crate::SCHEMA_VERSION); the
//! retention rule is [`Queue::apply_retention`].
//!
//! The queue never sees a patient reference, value or name: only the clinic's sealed
//! database maps a job id to a patient.

mod address;
#[cfg(feature = "test-cluster")]
pub mod cluster;
mod connection;
mod error;
mod job;
mod lease;
mod limits;
mod migrations;
mod queue;
mod submit;
mod worker;

pub use address::QueueAddress;
pub use error::QueueError;
pub use job::{ClaimedJob, Counts, JobId, KeyHash, NewJob, Outcome};
pub use lease::{Expired, LeaseOutcome};
pub use limits::{
    ReadLimits, MAX_FAILURE_CHARS, MAX_KEY_BYTES, MAX_REQUEST_BYTES, MAX_RESULT_BYTES,
};
pub use migrations::SCHEMA_VERSION;
pub use queue::{Queue, DONE_CHANNEL, JOBS_CHANNEL};
pub use submit::DEFAULT_MAX_ATTEMPTS;
pub use worker::{run_worker, JobEngine, WorkerConfig, WorkerStats};
