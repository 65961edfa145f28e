-- Pulsecure job queue, schema version 1.
-- Server keys are stored once, addressed by the SHA-256 of their bytes.
CREATE TABLE pulsecure_server_keys (
    sha256     bytea PRIMARY KEY CHECK (length(sha256) = 32),
    key_bytes  bytea NOT NULL,
    stored_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per encrypted screening. Nothing here names a patient: the job id is random and
-- the clinic alone maps it to a patient, in its own sealed database.
CREATE TABLE pulsecure_jobs (
    job_id            text PRIMARY KEY CHECK (job_id ~ '^[0-9a-f]{32}$'),
    key_sha256        bytea NOT NULL REFERENCES pulsecure_server_keys (sha256),
    model_fingerprint bytea NOT NULL CHECK (length(model_fingerprint) = 32),
    request           bytea,            -- the encrypted inputs; NULL once finished
    state             text NOT NULL DEFAULT 'queued'
                      CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    max_attempts      integer NOT NULL DEFAULT 3 CHECK (max_attempts > 0),
    not_before        timestamptz NOT NULL DEFAULT now(),
    lease_owner       text,
    lease_expires     timestamptz,
    result            bytea,            -- the encrypted result, once done
    failure           text,             -- why the last attempt failed
    finished_by       text,
    enqueued_at       timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_expires IS NOT NULL)),
    CHECK (state <> 'done' OR (result IS NOT NULL AND finished_at IS NOT NULL)),
    CHECK (state <> 'failed' OR (failure IS NOT NULL AND finished_at IS NOT NULL))
);

CREATE INDEX pulsecure_jobs_ready ON pulsecure_jobs (enqueued_at) WHERE state = 'queued';
CREATE INDEX pulsecure_jobs_ready_by_key ON pulsecure_jobs (key_sha256, enqueued_at)
    WHERE state = 'queued';
CREATE INDEX pulsecure_jobs_leases ON pulsecure_jobs (lease_expires) WHERE state = 'running';
CREATE INDEX pulsecure_jobs_finished ON pulsecure_jobs (finished_at)
    WHERE state IN ('done', 'failed');

-- Idle workers LISTEN on pulsecure_jobs; one notification per inserting statement.
CREATE FUNCTION pulsecure_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pulsecure_jobs', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER pulsecure_jobs_inserted AFTER INSERT ON pulsecure_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION pulsecure_jobs_notify();
