//! The worker's side of the queue: claim a job under a lease, keep the lease alive, finish
//! the job, put back or fail jobs whose lease ran out, and apply the retention rule.
//!
//! A lease is (worker id, attempt number) with an expiry. Every write a worker makes to a
//! job it claimed is conditional on still holding that lease, so a worker that was paused
//! or cut off past its expiry cannot overwrite the job another worker took over: its late
//! result is discarded. Each change is one statement, hence one transaction.

use std::time::Duration;

use crate::error::QueueError;
use crate::job::{ClaimedJob, JobId, KeyHash};
use crate::limits::sql_bytes;
use crate::queue::{Queue, DONE_CHANNEL, JOBS_CHANNEL};

const CLAIM: &str = "
    WITH next AS (
        SELECT job_id FROM pulsecure_jobs
        WHERE state = 'queued' AND not_before <= now() AND ($3::bytea[] IS NULL OR key_sha256 = ANY($3))
        ORDER BY enqueued_at
        LIMIT 1
        FOR UPDATE SKIP LOCKED)
    UPDATE pulsecure_jobs j
    SET state = 'running', attempts = j.attempts + 1, lease_owner = $1,
        lease_expires = now() + make_interval(secs => $2)
    FROM next WHERE j.job_id = next.job_id
    RETURNING j.job_id, j.key_sha256, j.model_fingerprint,
        CASE WHEN octet_length(j.request) <= $4::bigint THEN j.request END,
        j.attempts, octet_length(j.request)";

/// Whether a finishing write still held its lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// Written.
    Written,
    /// The lease had expired and the job was taken over (or finished) by another worker:
    /// nothing was written.
    Lost,
}

/// What the lease sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expired {
    /// Jobs put back in the queue for another attempt.
    pub requeued: u64,
    /// Jobs failed for good (their attempts used up).
    pub failed: u64,
}

fn lease_result(rows: u64) -> LeaseOutcome {
    if rows == 1 {
        LeaseOutcome::Written
    } else {
        LeaseOutcome::Lost
    }
}

impl Queue {
    /// Claim the oldest ready job, preferring jobs for `preferred` keys (those the worker
    /// has decompressed already), under a lease of `lease` for `worker`. A request larger
    /// than the limit is not transferred: the job comes with
    /// [`ClaimedJob::request_too_large`] set, to be failed.
    pub async fn claim(
        &self,
        worker: &str,
        lease: Duration,
        preferred: &[KeyHash],
    ) -> Result<Option<ClaimedJob>, QueueError> {
        let secs = lease.as_secs_f64();
        let limit = sql_bytes(self.limits.request);
        let mut row = None;
        if !preferred.is_empty() {
            let keys: Vec<&[u8]> = preferred.iter().map(|k| k.as_slice()).collect();
            row = self
                .client
                .query_opt(CLAIM, &[&worker, &secs, &Some(keys), &limit])
                .await
                .map_err(QueueError::from_pg("claiming a job"))?;
        }
        if row.is_none() {
            row = self
                .client
                .query_opt(CLAIM, &[&worker, &secs, &None::<Vec<&[u8]>>, &limit])
                .await
                .map_err(QueueError::from_pg("claiming a job"))?;
        }
        let Some(row) = row else {
            return Ok(None);
        };
        let fixed = |bytes: Vec<u8>, what: &str| -> Result<[u8; 32], QueueError> {
            bytes
                .try_into()
                .map_err(|_| QueueError::Corrupt(format!("a job's {what} is not 32 bytes")))
        };
        let (request, request_too_large) = match (
            row.get::<_, Option<Vec<u8>>>(3),
            row.get::<_, Option<i32>>(5),
        ) {
            (Some(request), _) => (request, None),
            (None, Some(bytes)) => (Vec::new(), Some(bytes.max(0) as u64)),
            (None, None) => return Err(QueueError::Corrupt("a queued job has no request".into())),
        };
        Ok(Some(ClaimedJob {
            id: JobId::parse(row.get(0))?,
            key: fixed(row.get(1), "key hash")?,
            model: fixed(row.get(2), "model fingerprint")?,
            request,
            request_too_large,
            attempt: row.get(4),
        }))
    }

    /// Extend the lease of `job` by `lease` from now.
    pub async fn renew(
        &self,
        worker: &str,
        job: &ClaimedJob,
        lease: Duration,
    ) -> Result<LeaseOutcome, QueueError> {
        let rows = self
            .client
            .execute(
                "UPDATE pulsecure_jobs SET lease_expires = now() + make_interval(secs => $4)
                 WHERE job_id = $1 AND lease_owner = $2 AND attempts = $3 AND state = 'running'",
                &[
                    &job.id.as_str(),
                    &worker,
                    &job.attempt,
                    &lease.as_secs_f64(),
                ],
            )
            .await
            .map_err(QueueError::from_pg("renewing a lease"))?;
        Ok(lease_result(rows))
    }

    /// Store `result` and mark the job done, in one statement, if the lease is still held;
    /// the request ciphertext is dropped with it. Wakes waiting clients.
    pub async fn complete(
        &self,
        worker: &str,
        job: &ClaimedJob,
        result: &[u8],
    ) -> Result<LeaseOutcome, QueueError> {
        let rows = self
            .client
            .query(
                "WITH finished AS (
                     UPDATE pulsecure_jobs
                     SET state = 'done', result = $4, request = NULL, failure = NULL,
                         finished_by = $2, finished_at = now(),
                         lease_owner = NULL, lease_expires = NULL
                     WHERE job_id = $1 AND lease_owner = $2 AND attempts = $3 AND state = 'running'
                     RETURNING job_id)
                 SELECT pg_notify($5, '') FROM finished",
                &[
                    &job.id.as_str(),
                    &worker,
                    &job.attempt,
                    &result,
                    &DONE_CHANNEL,
                ],
            )
            .await
            .map_err(QueueError::from_pg("completing a job"))?;
        Ok(lease_result(rows.len() as u64))
    }

    /// Record why this attempt failed: the job goes back to the queue after `backoff`, or,
    /// its attempts used up — or at once without a `backoff` (a job no retry can help) —
    /// fails for good with `reason` (and its request is dropped). Returns whether the job
    /// failed for good, or `None` if the lease was lost.
    pub async fn fail(
        &self,
        worker: &str,
        job: &ClaimedJob,
        reason: &str,
        backoff: Option<Duration>,
    ) -> Result<Option<bool>, QueueError> {
        let for_good = backoff.is_none();
        let backoff = backoff.unwrap_or_default();
        let row = self
            .client
            .query_opt(
                "WITH changed AS (
                     UPDATE pulsecure_jobs
                     SET failure = $4, lease_owner = NULL, lease_expires = NULL,
                         state = CASE WHEN attempts >= max_attempts OR $8 THEN 'failed' ELSE 'queued' END,
                         request = CASE WHEN attempts >= max_attempts OR $8 THEN NULL ELSE request END,
                         finished_at = CASE WHEN attempts >= max_attempts OR $8 THEN now() END,
                         finished_by = CASE WHEN attempts >= max_attempts OR $8 THEN $2 END,
                         not_before = now() + make_interval(secs => $5)
                     WHERE job_id = $1 AND lease_owner = $2 AND attempts = $3 AND state = 'running'
                     RETURNING state)
                 SELECT state, pg_notify(CASE WHEN state = 'failed' THEN $6 ELSE $7 END, '')
                 FROM changed",
                &[
                    &job.id.as_str(),
                    &worker,
                    &job.attempt,
                    &reason,
                    &backoff.as_secs_f64(),
                    &DONE_CHANNEL,
                    &JOBS_CHANNEL,
                    &for_good,
                ],
            )
            .await
            .map_err(QueueError::from_pg("recording a failed attempt"))?;
        Ok(row.map(|r| r.get::<_, &str>(0) == "failed"))
    }

    /// Put back every job whose lease expired (its worker died, hung or lost the database),
    /// or fail it for good when its attempts are used up: a job that kills its workers
    /// cannot go round forever.
    pub async fn expire_leases(&self) -> Result<Expired, QueueError> {
        let rows = self
            .client
            .query(
                "WITH changed AS (
                     UPDATE pulsecure_jobs
                     SET state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
                         failure = CASE WHEN attempts >= max_attempts
                             THEN 'the lease expired on each of ' || attempts || ' attempts: the worker stopped, hung or lost the database while evaluating'
                             ELSE failure END,
                         request = CASE WHEN attempts >= max_attempts THEN NULL ELSE request END,
                         finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
                         lease_owner = NULL, lease_expires = NULL
                     WHERE state = 'running' AND lease_expires < now()
                     RETURNING state)
                 SELECT state, count(*) FROM changed GROUP BY state",
                &[],
            )
            .await
            .map_err(QueueError::from_pg("expiring leases"))?;
        let mut expired = Expired::default();
        for row in rows {
            let n = row.get::<_, i64>(1).max(0) as u64;
            if row.get::<_, &str>(0) == "failed" {
                expired.failed = n;
            } else {
                expired.requeued = n;
            }
        }
        if expired.requeued > 0 {
            self.notify(JOBS_CHANNEL).await?;
        }
        if expired.failed > 0 {
            self.notify(DONE_CHANNEL).await?;
        }
        Ok(expired)
    }

    async fn notify(&self, channel: &str) -> Result<(), QueueError> {
        self.client
            .execute("SELECT pg_notify($1, '')", &[&channel])
            .await
            .map_err(QueueError::from_pg("notifying"))
            .map(|_| ())
    }

    /// The retention rule: finished jobs (done or failed) not collected within `keep` are
    /// deleted with their ciphertexts, and so are server keys no job names that were
    /// stored longer than `keep` ago. Returns (jobs, keys) deleted.
    pub async fn apply_retention(&self, keep: Duration) -> Result<(u64, u64), QueueError> {
        let secs = keep.as_secs_f64();
        let jobs = self
            .client
            .execute(
                "DELETE FROM pulsecure_jobs
                 WHERE state IN ('done', 'failed') AND finished_at < now() - make_interval(secs => $1)",
                &[&secs],
            )
            .await
            .map_err(QueueError::from_pg("applying the retention rule"))?;
        let keys = self
            .client
            .execute(
                "DELETE FROM pulsecure_server_keys k
                 WHERE stored_at < now() - make_interval(secs => $1)
                   AND NOT EXISTS (SELECT 1 FROM pulsecure_jobs j WHERE j.key_sha256 = k.sha256)",
                &[&secs],
            )
            .await
            .map_err(QueueError::from_pg("applying the retention rule"))?;
        Ok((jobs, keys))
    }
}
