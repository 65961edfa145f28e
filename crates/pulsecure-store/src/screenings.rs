//! The screenings repository: sealed payloads, resumable inserts, history queries.
//!
//! In clear a row shows only its id, the UTC day, the model id and version (which model a
//! row must be read with), and a 32-byte HMAC tag of the reference (so a resumed batch can
//! find a patient without the reference being readable). The reference, the exact time, the
//! values and the result are sealed, in a payload of one length per model.

use pulsecure_core::ports::store::{ScreeningRecord, ScreeningStore, StoreError, StoredScreening};
use pulsecure_core::{PatientRef, RiskAssessment, RiskClass};
use rusqlite::{params, Connection, ErrorCode};

use crate::database::Database;
use crate::errors::SqliteContext;
use crate::sealed_payload::{Outcome, Payload};

/// Seconds per UTC day: the clear date's resolution.
const DAY: i64 = 86_400;

/// Associated data binding a payload to its row id and clear columns.
fn row_aad(id: i64, created_day: i64, model_id: &str, version: u64, ref_tag: &[u8]) -> Vec<u8> {
    let mut aad = b"pulsecure screening v2\0".to_vec();
    aad.extend_from_slice(&id.to_be_bytes());
    aad.extend_from_slice(&created_day.to_be_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    for bytes in [model_id.as_bytes(), ref_tag] {
        aad.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        aad.extend_from_slice(bytes);
    }
    aad
}

/// Which screenings `Database::history` returns.
#[derive(Clone, Debug, Default)]
pub struct ScreeningFilter {
    /// Only screenings at or after this Unix time.
    pub since: Option<i64>,
    /// Only screenings before this Unix time.
    pub until: Option<i64>,
    /// Only screened rows of this risk class (a not-eligible row has none).
    pub class: Option<RiskClass>,
}

/// A row as stored, before decryption.
struct RawRow {
    id: i64,
    created_day: i64,
    model_id: String,
    model_version: i64,
    ref_tag: Vec<u8>,
    nonce: Vec<u8>,
    payload: Vec<u8>,
}

const SELECT_ROWS: &str =
    "SELECT id, created_day, model_id, model_version, ref_tag, nonce, payload FROM screenings";

impl Database {
    /// The lookup tag of a reference.
    pub(crate) fn ref_tag(&self, patient_ref: &str) -> [u8; 32] {
        self.ref_key.tag(&[patient_ref.as_bytes()])
    }

    /// Seal `payload` into a new row (with `id`, or the next one), inside the caller's
    /// transaction, and update the screenings' integrity record. A second row for the same
    /// reference and model version is `Duplicate`.
    pub(crate) fn insert_sealed(
        &self,
        tx: &Connection,
        id: Option<i64>,
        model_id: &str,
        version: u64,
        payload: &Payload,
    ) -> Result<i64, StoreError> {
        let stored_version = i64::try_from(version)
            .map_err(|_| StoreError::Backend("model version out of range".into()))?;
        let created_day = payload.created_at.div_euclid(DAY);
        let ref_tag = self.ref_tag(&payload.patient_ref);
        let inserted = tx.execute(
            "INSERT INTO screenings (id, created_day, model_id, model_version, ref_tag, nonce, payload)
             VALUES (?1, ?2, ?3, ?4, ?5, x'', x'')",
            params![id, created_day, model_id, stored_version, ref_tag.to_vec()],
        );
        if let Err(e) = inserted {
            if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) {
                return Err(StoreError::Duplicate);
            }
            return Err(crate::errors::from_sqlite("storing a screening", e));
        }
        let id = tx.last_insert_rowid();
        let aad = row_aad(id, created_day, model_id, version, &ref_tag);
        let plain = payload
            .encode()
            .ok_or_else(|| StoreError::Backend("a screening has too many features".into()))?;
        let (nonce, sealed) = self
            .key
            .seal(&plain, &aad)
            .ok_or_else(|| StoreError::Backend("sealing a screening failed".into()))?;
        tx.execute(
            "UPDATE screenings SET nonce = ?1, payload = ?2 WHERE id = ?3",
            params![nonce.to_vec(), sealed, id],
        )
        .context("storing a screening")?;
        self.integrity.changed(tx, "screenings", id, None)?;
        Ok(id)
    }

    /// Authenticate and decode a row.
    fn decrypt_row(&self, row: RawRow) -> Result<StoredScreening, StoreError> {
        let corrupt = StoreError::Corrupt { id: row.id };
        let version = u64::try_from(row.model_version).map_err(|_| corrupt.clone())?;
        let aad = row_aad(
            row.id,
            row.created_day,
            &row.model_id,
            version,
            &row.ref_tag,
        );
        let plain = self
            .key
            .open(&row.nonce, &row.payload, &aad)
            .ok_or_else(|| corrupt.clone())?;
        let sealed = Payload::decode(&plain).ok_or_else(|| corrupt.clone())?;
        if sealed.created_at.div_euclid(DAY) != row.created_day
            || self.ref_tag(&sealed.patient_ref).as_slice() != row.ref_tag.as_slice()
        {
            return Err(corrupt);
        }
        let patient_ref = PatientRef::parse(&sealed.patient_ref).map_err(|_| corrupt)?;
        let status = sealed.status;
        let Outcome {
            features,
            probability_code,
            probability,
            class,
        } = sealed.outcome;
        Ok(StoredScreening {
            id: row.id,
            record: ScreeningRecord {
                patient_ref,
                created_at: sealed.created_at,
                features,
                assessment: RiskAssessment {
                    probability_code,
                    probability,
                    class,
                    model_id: row.model_id,
                    model_version: version,
                },
                status,
            },
        })
    }

    fn raw_rows(
        &self,
        sql: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<RawRow>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(sql).context("preparing a screenings query")?;
        let rows = stmt
            .query_map(args, |row| {
                Ok(RawRow {
                    id: row.get(0)?,
                    created_day: row.get(1)?,
                    model_id: row.get(2)?,
                    model_version: row.get(3)?,
                    ref_tag: row.get(4)?,
                    nonce: row.get(5)?,
                    payload: row.get(6)?,
                })
            })
            .context("reading screenings")?
            .collect::<Result<Vec<_>, _>>()
            .context("reading screenings")?;
        Ok(rows)
    }

    /// Stored screenings matching `filter`, oldest first (by exact time, then id).
    pub fn history(&self, filter: &ScreeningFilter) -> Result<Vec<StoredScreening>, StoreError> {
        let since = filter.since.unwrap_or(i64::MIN);
        let until = filter.until.unwrap_or(i64::MAX);
        // The clear day narrows the read; the exact bounds are applied after decryption.
        let rows = self.raw_rows(
            &format!("{SELECT_ROWS} WHERE created_day >= ?1 AND created_day <= ?2"),
            &[&since.div_euclid(DAY), &until.div_euclid(DAY)],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let stored = self.decrypt_row(row)?;
            let at = stored.record.created_at;
            if at >= since
                && at < until
                && filter.class.is_none_or(|c| {
                    stored.record.status.is_screened() && c == stored.record.assessment.class
                })
            {
                out.push(stored);
            }
        }
        out.sort_by_key(|s| (s.record.created_at, s.id));
        Ok(out)
    }

    /// One screening by id.
    pub fn screening(&self, id: i64) -> Result<StoredScreening, StoreError> {
        let mut rows = self.raw_rows(&format!("{SELECT_ROWS} WHERE id = ?1"), &[&id])?;
        match rows.pop() {
            Some(row) => self.decrypt_row(row),
            None => Err(StoreError::NotFound(id)),
        }
    }

    /// Every row decrypted, as (id, model id, version, payload), for re-sealing.
    pub(crate) fn all_rows_decrypted(
        &self,
    ) -> Result<Vec<(i64, String, u64, Payload)>, StoreError> {
        let rows = self.raw_rows(&format!("{SELECT_ROWS} ORDER BY id"), &[])?;
        rows.into_iter()
            .map(|row| {
                let s = self.decrypt_row(row)?;
                let a = s.record.assessment;
                Ok((
                    s.id,
                    a.model_id,
                    a.model_version,
                    Payload {
                        patient_ref: s.record.patient_ref.as_str().to_string(),
                        created_at: s.record.created_at,
                        status: s.record.status,
                        outcome: Outcome {
                            features: s.record.features,
                            probability_code: a.probability_code,
                            probability: a.probability,
                            class: a.class,
                        },
                    },
                ))
            })
            .collect()
    }

    /// Ids of every row, and for each whether it decrypts (for `db check`).
    pub(crate) fn decryptability(&self) -> Result<Vec<(i64, bool)>, StoreError> {
        let rows = self.raw_rows(&format!("{SELECT_ROWS} ORDER BY id"), &[])?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let id = row.id;
                (id, self.decrypt_row(row).is_ok())
            })
            .collect())
    }
}

impl ScreeningStore for Database {
    fn save(&self, record: &ScreeningRecord) -> Result<i64, StoreError> {
        let a = &record.assessment;
        let payload = Payload::of_record(record);
        let mut conn = self.conn()?;
        // One transaction: the row appears whole (sealed under its own id) or not at all.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .context("starting a transaction")?;
        let id = self.insert_sealed(&tx, None, &a.model_id, a.model_version, &payload)?;
        tx.commit().context("committing a screening")?;
        Ok(id)
    }

    fn find(
        &self,
        model_id: &str,
        version: u64,
        patient_ref: &PatientRef,
    ) -> Result<Option<StoredScreening>, StoreError> {
        let version = i64::try_from(version)
            .map_err(|_| StoreError::Backend("model version out of range".into()))?;
        let tag = self.ref_tag(patient_ref.as_str()).to_vec();
        let mut rows = self.raw_rows(
            &format!("{SELECT_ROWS} WHERE model_id = ?1 AND model_version = ?2 AND ref_tag = ?3"),
            &[&model_id, &version, &tag],
        )?;
        rows.pop().map(|row| self.decrypt_row(row)).transpose()
    }

    fn all(&self) -> Result<Vec<StoredScreening>, StoreError> {
        self.history(&ScreeningFilter::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field_cipher::FieldKey;
    use pulsecure_core::ports::store::ScreeningStore;

    fn record(reference: &str, at: i64, class: RiskClass) -> ScreeningRecord {
        ScreeningRecord {
            patient_ref: PatientRef::parse(reference).expect("valid reference"),
            created_at: at,
            features: vec![61.0, 1.0],
            assessment: RiskAssessment {
                probability_code: 100,
                probability: 100.0 / 4096.0,
                class,
                model_id: "cvd-lr".into(),
                model_version: 1,
            },
            status: pulsecure_core::ports::store::RecordStatus::Screened,
        }
    }

    /// Neither the reference nor the exact time is in any clear column, yet a reference is
    /// found again and the history keeps exact bounds and order.
    #[test]
    fn reference_and_time_are_only_sealed_yet_found_and_ordered() {
        let db = Database::open_in_memory(FieldKey::from_bytes([3; 32])).expect("db");
        db.save(&record("MRN-4711", 90_000, RiskClass::High))
            .expect("save");
        db.save(&record("MRN-0815", 86_500, RiskClass::Low))
            .expect("save");
        let clear: Vec<String> = {
            let conn = db.conn().expect("conn");
            let mut stmt = conn
                .prepare("SELECT quote(created_day) || quote(model_id) || quote(model_version) || quote(ref_tag) FROM screenings")
                .expect("prepare");
            let rows = stmt
                .query_map([], |r| r.get(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            rows
        };
        for row in &clear {
            assert!(!row.contains("MRN") && !row.contains("90000") && !row.contains("86500"));
            assert!(row.starts_with("1'cvd-lr'1X'"), "{row}");
        }
        let reference = PatientRef::parse("MRN-4711").expect("ref");
        let found = db
            .find("cvd-lr", 1, &reference)
            .expect("find")
            .expect("present");
        assert_eq!(found.record.created_at, 90_000);
        assert_eq!(
            db.save(&record("MRN-4711", 95_000, RiskClass::Low)),
            Err(StoreError::Duplicate)
        );
        let order: Vec<i64> = db
            .all()
            .expect("all")
            .iter()
            .map(|s| s.record.created_at)
            .collect();
        assert_eq!(order, vec![86_500, 90_000]);
        let window = db
            .history(&ScreeningFilter {
                since: Some(86_501),
                until: Some(90_001),
                class: None,
            })
            .expect("history");
        assert_eq!(window.len(), 1);
        assert_eq!(window[0].record.patient_ref.as_str(), "MRN-4711");
    }
}
