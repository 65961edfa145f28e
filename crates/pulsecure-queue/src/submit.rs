//! The clinic's side of the queue: enqueue jobs, follow them, collect and acknowledge them.
//! Every call is idempotent, so a client interrupted anywhere can simply repeat it.

use crate::error::QueueError;
use crate::job::{Counts, JobId, NewJob, Outcome};
use crate::limits::{sql_bytes, MAX_FAILURE_CHARS};
use crate::queue::Queue;

/// Attempts a job gets before it fails for good.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 3;

fn ids_text(ids: &[JobId]) -> Vec<&str> {
    ids.iter().map(JobId::as_str).collect()
}

impl Queue {
    /// Enqueue `jobs` (their keys stored first); a job whose id is already in the queue is
    /// left as it is. Returns how many were new.
    pub async fn enqueue(&self, jobs: &[NewJob], max_attempts: i32) -> Result<u64, QueueError> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
        let keys: Vec<&[u8]> = jobs.iter().map(|j| j.key.as_slice()).collect();
        let models: Vec<&[u8]> = jobs.iter().map(|j| j.model.as_slice()).collect();
        let requests: Vec<&[u8]> = jobs.iter().map(|j| j.request.as_slice()).collect();
        self.client
            .execute(
                "INSERT INTO pulsecure_jobs (job_id, key_sha256, model_fingerprint, request, max_attempts)
                 SELECT id, key, model, request, $5
                 FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::bytea[]) AS j(id, key, model, request)
                 ON CONFLICT (job_id) DO NOTHING",
                &[&ids, &keys, &models, &requests, &max_attempts.max(1)],
            )
            .await
            .map_err(QueueError::from_pg("enqueueing jobs"))
    }

    /// Of `ids`, those the queue does not hold (never enqueued, or removed by retention).
    pub async fn missing(&self, ids: &[JobId]) -> Result<Vec<JobId>, QueueError> {
        let rows = self
            .client
            .query(
                "SELECT id FROM unnest($1::text[]) AS w(id)
                 WHERE NOT EXISTS (SELECT 1 FROM pulsecure_jobs j WHERE j.job_id = w.id)",
                &[&ids_text(ids)],
            )
            .await
            .map_err(QueueError::from_pg("looking up jobs"))?;
        rows.iter().map(|r| JobId::parse(r.get(0))).collect()
    }

    /// States of the jobs `ids` (all jobs when `ids` is None).
    pub async fn counts(&self, ids: Option<&[JobId]>) -> Result<Counts, QueueError> {
        let rows = match ids {
            Some(ids) => self
                .client
                .query(
                    "SELECT state, count(*) FROM pulsecure_jobs WHERE job_id = ANY($1) GROUP BY state",
                    &[&ids_text(ids)],
                )
                .await,
            None => self
                .client
                .query(
                    "SELECT state, count(*) FROM pulsecure_jobs GROUP BY state",
                    &[],
                )
                .await,
        }
        .map_err(QueueError::from_pg("counting jobs"))?;
        let mut counts = Counts::default();
        for row in rows {
            let n = row.get::<_, i64>(1).max(0) as u64;
            match row.get::<_, &str>(0) {
                "queued" => counts.queued = n,
                "running" => counts.running = n,
                "done" => counts.done = n,
                "failed" => counts.failed = n,
                other => return Err(QueueError::Corrupt(format!("unknown job state {other:?}"))),
            }
        }
        Ok(counts)
    }

    /// The finished jobs among `ids`, with their outcomes. A result larger than the limit
    /// is not transferred ([`Outcome::ResultTooLarge`]), nor more than
    /// [`MAX_FAILURE_CHARS`] of a failure reason.
    pub async fn finished(&self, ids: &[JobId]) -> Result<Vec<(JobId, Outcome)>, QueueError> {
        let limit = self.limits.result;
        let rows = self
            .client
            .query(
                "SELECT job_id, state,
                        CASE WHEN octet_length(result) <= $2::bigint THEN result END,
                        left(failure, $3::integer),
                        octet_length(result)
                 FROM pulsecure_jobs
                 WHERE job_id = ANY($1) AND state IN ('done', 'failed')",
                &[&ids_text(ids), &sql_bytes(limit), &MAX_FAILURE_CHARS],
            )
            .await
            .map_err(QueueError::from_pg("reading finished jobs"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id = JobId::parse(row.get(0))?;
            let outcome = match row.get::<_, &str>(1) {
                "done" => match (
                    row.get::<_, Option<Vec<u8>>>(2),
                    row.get::<_, Option<i32>>(4),
                ) {
                    (Some(bytes), _) => Outcome::Done(bytes),
                    (None, Some(bytes)) => Outcome::ResultTooLarge {
                        bytes: bytes.max(0) as u64,
                        limit,
                    },
                    (None, None) => {
                        return Err(QueueError::Corrupt(format!(
                            "job {id} is done without a result"
                        )))
                    }
                },
                _ => Outcome::Failed(
                    row.get::<_, Option<String>>(3)
                        .unwrap_or_else(|| "no reason recorded".into()),
                ),
            };
            out.push((id, outcome));
        }
        Ok(out)
    }

    /// Remove finished jobs the clinic has stored (their ciphertexts leave the queue now);
    /// unfinished ids are left alone. Returns how many were removed.
    pub async fn acknowledge(&self, ids: &[JobId]) -> Result<u64, QueueError> {
        self.client
            .execute(
                "DELETE FROM pulsecure_jobs WHERE job_id = ANY($1) AND state IN ('done', 'failed')",
                &[&ids_text(ids)],
            )
            .await
            .map_err(QueueError::from_pg("acknowledging jobs"))
    }
}
