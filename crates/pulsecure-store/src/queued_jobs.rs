//! Screenings waiting in the PostgreSQL job queue: the clinic's only map from an opaque
//! job id to a patient.
//!
//! In clear a row shows its job id (random, what the queue knows), the model id and version
//! and the reference's HMAC tag (so a rerun of a batch finds a patient already queued). The
//! reference, batch row, time, values and the encrypted request (kept to re-submit a job
//! the queue lost) are sealed with AES-256-GCM, bound to the clear columns. Rows are not in
//! the integrity records: deleting one loses only that pending job, which a rerun of the
//! batch submits again; collecting a job stores the screening and deletes the row in one
//! transaction. Every such write still raises the integrity state's generation, so an
//! older copy of the file is refused like any other.

use pulsecure_core::ports::store::{ScreeningRecord, StoreError};
use pulsecure_core::PatientRef;
use rusqlite::{params, ErrorCode};

use crate::database::Database;
use crate::errors::SqliteContext;
use crate::sealed_payload::{Payload, REF_CAPACITY};

/// First byte of a queued job's sealed encoding.
const TAG: u8 = 0x04;

/// One screening waiting in the queue.
#[derive(Clone, PartialEq)]
pub struct QueuedJob {
    /// The opaque job id (32 hex digits).
    pub job_id: String,
    /// The model it was encrypted for.
    pub model_id: String,
    /// Its version.
    pub model_version: u64,
    /// The patient.
    pub patient_ref: PatientRef,
    /// Its row in the batch file (1-based), for reports.
    pub row: u64,
    /// When it was enqueued (Unix seconds).
    pub created_at: i64,
    /// Validated values in model order (stored with the result).
    pub features: Vec<f64>,
    /// The encrypted request as enqueued.
    pub request: Vec<u8>,
}

impl QueuedJob {
    /// The model release it was encrypted for.
    pub fn model_ref(&self) -> pulsecure_core::ModelRef {
        pulsecure_core::ModelRef::new(self.model_id.as_str(), self.model_version)
    }
}

impl std::fmt::Debug for QueuedJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueuedJob")
            .field("job_id", &self.job_id)
            .field("model_id", &self.model_id)
            .field("model_version", &self.model_version)
            .field("values", &"<redacted>")
            .finish()
    }
}

fn aad(job_id: &str, model_id: &str, version: u64, ref_tag: &[u8]) -> Vec<u8> {
    let mut aad = b"pulsecure queued job v1\0".to_vec();
    aad.extend_from_slice(&version.to_be_bytes());
    for bytes in [job_id.as_bytes(), model_id.as_bytes(), ref_tag] {
        aad.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        aad.extend_from_slice(bytes);
    }
    aad
}

fn encode(job: &QueuedJob) -> Option<Vec<u8>> {
    let reference = job.patient_ref.as_str().as_bytes();
    if reference.len() > REF_CAPACITY {
        return None;
    }
    let mut out = vec![TAG];
    out.extend_from_slice(&job.created_at.to_le_bytes());
    out.extend_from_slice(&job.row.to_le_bytes());
    out.extend_from_slice(&(reference.len() as u16).to_le_bytes());
    out.extend_from_slice(reference);
    out.resize(1 + 8 + 8 + 2 + REF_CAPACITY, 0);
    out.push(u8::try_from(job.features.len()).ok()?);
    for v in &job.features {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&u32::try_from(job.request.len()).ok()?.to_le_bytes());
    out.extend_from_slice(&job.request);
    Some(out)
}

struct Sealed {
    created_at: i64,
    row: u64,
    patient_ref: PatientRef,
    features: Vec<f64>,
    request: Vec<u8>,
}

fn decode(bytes: &[u8]) -> Option<Sealed> {
    let take = |at: usize, n: usize| bytes.get(at..at + n);
    if *bytes.first()? != TAG {
        return None;
    }
    let created_at = i64::from_le_bytes(take(1, 8)?.try_into().ok()?);
    let row = u64::from_le_bytes(take(9, 8)?.try_into().ok()?);
    let ref_len = usize::from(u16::from_le_bytes(take(17, 2)?.try_into().ok()?));
    let header = 19 + REF_CAPACITY;
    if ref_len > REF_CAPACITY
        || take(19 + ref_len, REF_CAPACITY - ref_len)?
            .iter()
            .any(|&b| b != 0)
    {
        return None;
    }
    let patient_ref = PatientRef::parse(std::str::from_utf8(take(19, ref_len)?).ok()?).ok()?;
    let count = usize::from(*bytes.get(header)?);
    let features = (0..count)
        .map(|i| {
            Some(f64::from_le_bytes(
                take(header + 1 + 8 * i, 8)?.try_into().ok()?,
            ))
        })
        .collect::<Option<Vec<_>>>()?;
    let at = header + 1 + 8 * count;
    let len = u32::from_le_bytes(take(at, 4)?.try_into().ok()?) as usize;
    if bytes.len() != at + 4 + len {
        return None;
    }
    Some(Sealed {
        created_at,
        row,
        patient_ref,
        features,
        request: bytes[at + 4..].to_vec(),
    })
}

impl Database {
    /// Record `jobs` before they are enqueued, in one transaction. A patient already
    /// queued for the same model version is `Duplicate` and nothing is recorded.
    pub fn add_queued_jobs(&self, jobs: &[QueuedJob]) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .context("starting a transaction")?;
        for job in jobs {
            let tag = self.ref_tag(job.patient_ref.as_str());
            let version = i64::try_from(job.model_version)
                .map_err(|_| StoreError::Backend("model version out of range".into()))?;
            let plain = encode(job)
                .ok_or_else(|| StoreError::Backend("a queued job does not encode".into()))?;
            let (nonce, sealed) = self
                .key
                .seal(
                    &plain,
                    &aad(&job.job_id, &job.model_id, job.model_version, &tag),
                )
                .ok_or_else(|| StoreError::Backend("sealing a queued job failed".into()))?;
            let inserted = tx.execute(
                "INSERT INTO queued_jobs (job_id, model_id, model_version, ref_tag, nonce, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    job.job_id,
                    job.model_id,
                    version,
                    tag.to_vec(),
                    nonce.to_vec(),
                    sealed
                ],
            );
            if let Err(e) = inserted {
                if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) {
                    return Err(StoreError::Duplicate);
                }
                return Err(crate::errors::from_sqlite("recording a queued job", e));
            }
        }
        self.integrity.bump(&tx)?;
        tx.commit().context("recording queued jobs")?;
        Ok(())
    }

    /// Every job waiting in the queue, decrypted, in the order they were recorded.
    pub fn queued_jobs(&self) -> Result<Vec<QueuedJob>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare(
                "SELECT id, job_id, model_id, model_version, ref_tag, nonce, payload
                 FROM queued_jobs ORDER BY id",
            )
            .context("reading queued jobs")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                    r.get::<_, Vec<u8>>(6)?,
                ))
            })
            .context("reading queued jobs")?
            .collect::<Result<Vec<_>, _>>()
            .context("reading queued jobs")?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, job_id, model_id, version, tag, nonce, payload) in rows {
            let corrupt =
                || StoreError::Tampered(format!("queued job record {id} does not authenticate"));
            let version = u64::try_from(version).map_err(|_| corrupt())?;
            let plain = self
                .key
                .open(&nonce, &payload, &aad(&job_id, &model_id, version, &tag))
                .ok_or_else(corrupt)?;
            let sealed = decode(&plain).ok_or_else(corrupt)?;
            if self.ref_tag(sealed.patient_ref.as_str()).as_slice() != tag.as_slice() {
                return Err(corrupt());
            }
            out.push(QueuedJob {
                job_id,
                model_id,
                model_version: version,
                patient_ref: sealed.patient_ref,
                row: sealed.row,
                created_at: sealed.created_at,
                features: sealed.features,
                request: sealed.request,
            });
        }
        Ok(out)
    }

    /// How many jobs wait in the queue.
    pub fn queued_job_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn()?
            .query_row("SELECT count(*) FROM queued_jobs", [], |r| r.get(0))
            .context("counting queued jobs")?;
        Ok(n.max(0) as u64)
    }

    /// Finish a queued job in one transaction: store its screening (unless `record` is
    /// `None`, a job that failed) and forget the job. Returns the screening's id, or `None`
    /// when nothing was stored (failed, or this patient was stored meanwhile).
    pub fn finish_queued_job(
        &self,
        job_id: &str,
        record: Option<&ScreeningRecord>,
    ) -> Result<Option<i64>, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .context("starting a transaction")?;
        let deleted = tx
            .execute("DELETE FROM queued_jobs WHERE job_id = ?1", params![job_id])
            .context("finishing a queued job")?;
        if deleted == 0 {
            // Collected already (by another `jobs collect`): nothing to do.
            return Ok(None);
        }
        let stored = match record {
            None => {
                self.integrity.bump(&tx)?;
                None
            }
            Some(record) => {
                let a = &record.assessment;
                let payload = Payload::of_record(record);
                match self.insert_sealed(&tx, None, &a.model_id, a.model_version, &payload) {
                    Ok(id) => Some(id),
                    Err(StoreError::Duplicate) => {
                        self.integrity.bump(&tx)?;
                        None
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        tx.commit().context("finishing a queued job")?;
        Ok(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field_cipher::FieldKey;
    use pulsecure_core::ports::store::ScreeningStore;
    use pulsecure_core::{RiskAssessment, RiskClass};

    fn job(id: char, reference: &str) -> QueuedJob {
        QueuedJob {
            job_id: id.to_string().repeat(32),
            model_id: "cvd-lr".into(),
            model_version: 2,
            patient_ref: PatientRef::parse(reference).expect("ref"),
            row: 7,
            created_at: 1_700_000_000,
            features: vec![61.0, 1.0, 140.5],
            request: vec![0xAB; 2673],
        }
    }

    #[test]
    fn queued_jobs_round_trip_sealed_and_refuse_a_second_job_per_patient() {
        let db = Database::open_in_memory(FieldKey::from_bytes([5; 32])).expect("db");
        db.add_queued_jobs(&[job('a', "MRN-1"), job('b', "MRN-2")])
            .expect("add");
        assert_eq!(
            db.queued_jobs().expect("read"),
            vec![job('a', "MRN-1"), job('b', "MRN-2")]
        );
        assert_eq!(
            db.add_queued_jobs(&[job('c', "MRN-1")]),
            Err(StoreError::Duplicate)
        );
        assert_eq!(db.queued_job_count().expect("count"), 2);
        let clear: String = db
            .conn()
            .expect("conn")
            .query_row("SELECT group_concat(quote(model_id) || quote(ref_tag) || quote(payload)) FROM queued_jobs", [], |r| r.get(0))
            .expect("clear");
        assert!(!clear.contains("MRN"));
    }

    #[test]
    fn finishing_stores_the_screening_and_forgets_the_job_once() {
        let db = Database::open_in_memory(FieldKey::from_bytes([5; 32])).expect("db");
        db.add_queued_jobs(&[job('a', "MRN-1"), job('b', "MRN-2")])
            .expect("add");
        let record = ScreeningRecord {
            patient_ref: PatientRef::parse("MRN-1").expect("ref"),
            created_at: 1_700_000_100,
            features: vec![61.0, 1.0, 140.5],
            assessment: RiskAssessment {
                probability_code: 900,
                probability: 900.0 / 4096.0,
                class: RiskClass::High,
                model_id: "cvd-lr".into(),
                model_version: 2,
            },
            status: pulsecure_core::ports::store::RecordStatus::Screened,
        };
        let id = db
            .finish_queued_job(&"a".repeat(32), Some(&record))
            .expect("finish");
        assert!(id.is_some());
        assert_eq!(
            db.finish_queued_job(&"a".repeat(32), Some(&record))
                .expect("again"),
            None
        );
        assert_eq!(db.all().expect("all").len(), 1);
        assert_eq!(
            db.finish_queued_job(&"b".repeat(32), None)
                .expect("failed job"),
            None
        );
        assert_eq!(db.queued_job_count().expect("count"), 0);
    }

    #[test]
    fn a_tampered_row_is_refused() {
        let db = Database::open_in_memory(FieldKey::from_bytes([5; 32])).expect("db");
        db.add_queued_jobs(&[job('a', "MRN-1")]).expect("add");
        db.conn()
            .expect("conn")
            .execute("UPDATE queued_jobs SET model_version = 3", [])
            .expect("tamper");
        assert!(matches!(db.queued_jobs(), Err(StoreError::Tampered(_))));
    }
}
