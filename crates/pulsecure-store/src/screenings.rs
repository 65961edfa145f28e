//! The screenings repository: sealed payloads, resumable inserts, history queries.

use pulsecure_core::ports::store::{ScreeningRecord, ScreeningStore, StoreError, StoredScreening};
use pulsecure_core::{PatientRef, RiskAssessment, RiskClass};
use rusqlite::{params, ErrorCode, OptionalExtension};

use crate::database::Database;
use crate::errors::SqliteContext;
use crate::sealed_payload::Payload;

/// `meta` entry recording that every row is sealed in the fixed-width encoding.
const PAYLOAD_FORMAT_NAME: &str = "payload-format";
const PAYLOAD_FORMAT_FIXED: &[u8] = b"2";

/// Associated data binding a payload to its row id and clear columns.
fn row_aad(id: i64, created_at: i64, model_id: &str, version: u64, patient_ref: &str) -> Vec<u8> {
    let mut aad = b"pulsecure screening v1\0".to_vec();
    aad.extend_from_slice(&id.to_be_bytes());
    aad.extend_from_slice(&created_at.to_be_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    for text in [model_id, patient_ref] {
        aad.extend_from_slice(&(text.len() as u64).to_be_bytes());
        aad.extend_from_slice(text.as_bytes());
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
    /// Only this risk class.
    pub class: Option<RiskClass>,
}

/// A row as stored, before decryption.
struct RawRow {
    id: i64,
    created_at: i64,
    model_id: String,
    model_version: i64,
    patient_ref: String,
    nonce: Vec<u8>,
    payload: Vec<u8>,
}

impl Database {
    /// Authenticate and decode a row's payload: its associated data, the payload, and
    /// whether it was in the legacy JSON encoding. `None` when anything fails.
    fn unseal(&self, row: &RawRow) -> Option<(Vec<u8>, Payload, bool)> {
        let version = u64::try_from(row.model_version).ok()?;
        let aad = row_aad(
            row.id,
            row.created_at,
            &row.model_id,
            version,
            &row.patient_ref,
        );
        let plain = self.key.open(&row.nonce, &row.payload, &aad)?;
        let (payload, legacy) = Payload::decode(&plain)?;
        Some((aad, payload, legacy))
    }

    /// Seal a payload (fixed-width encoding) under a row's associated data.
    fn seal_payload(
        &self,
        payload: &Payload,
        aad: &[u8],
    ) -> Result<([u8; 12], Vec<u8>), StoreError> {
        let plain = payload
            .encode()
            .ok_or_else(|| StoreError::Backend("a screening has too many features".into()))?;
        self.key
            .seal(&plain, aad)
            .ok_or_else(|| StoreError::Backend("sealing a screening failed".into()))
    }

    fn decrypt_row(&self, row: RawRow) -> Result<StoredScreening, StoreError> {
        let corrupt = StoreError::Corrupt { id: row.id };
        let version = u64::try_from(row.model_version).map_err(|_| corrupt.clone())?;
        let (_, sealed, _) = self.unseal(&row).ok_or_else(|| corrupt.clone())?;
        let patient_ref = PatientRef::parse(&row.patient_ref).map_err(|_| corrupt)?;
        Ok(StoredScreening {
            id: row.id,
            record: ScreeningRecord {
                patient_ref,
                created_at: row.created_at,
                features: sealed.features,
                assessment: RiskAssessment {
                    probability_code: sealed.probability_code,
                    probability: sealed.probability,
                    class: sealed.class,
                    model_id: row.model_id,
                    model_version: version,
                },
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
                    created_at: row.get(1)?,
                    model_id: row.get(2)?,
                    model_version: row.get(3)?,
                    patient_ref: row.get(4)?,
                    nonce: row.get(5)?,
                    payload: row.get(6)?,
                })
            })
            .context("reading screenings")?
            .collect::<Result<Vec<_>, _>>()
            .context("reading screenings")?;
        Ok(rows)
    }

    /// Stored screenings matching `filter`, oldest first.
    pub fn history(&self, filter: &ScreeningFilter) -> Result<Vec<StoredScreening>, StoreError> {
        let rows = self.raw_rows(
            "SELECT id, created_at, model_id, model_version, patient_ref, nonce, payload
             FROM screenings
             WHERE created_at >= ?1 AND created_at < ?2
             ORDER BY created_at, id",
            &[
                &filter.since.unwrap_or(i64::MIN),
                &filter.until.unwrap_or(i64::MAX),
            ],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let stored = self.decrypt_row(row)?;
            if filter
                .class
                .is_none_or(|c| c == stored.record.assessment.class)
            {
                out.push(stored);
            }
        }
        Ok(out)
    }

    /// One screening by id.
    pub fn screening(&self, id: i64) -> Result<StoredScreening, StoreError> {
        let mut rows = self.raw_rows(
            "SELECT id, created_at, model_id, model_version, patient_ref, nonce, payload
             FROM screenings WHERE id = ?1",
            &[&id],
        )?;
        match rows.pop() {
            Some(row) => self.decrypt_row(row),
            None => Err(StoreError::NotFound(id)),
        }
    }

    /// Re-seal rows written in the legacy JSON encoding (whose length varies with the class
    /// and the values) in the fixed-width one, in one transaction, once per database: a
    /// `meta` entry records that it was done. Rows that do not decrypt are left for
    /// `db check` to report.
    pub(crate) fn reseal_legacy_payloads(&self) -> Result<usize, StoreError> {
        let done: Option<Vec<u8>> = self
            .conn()?
            .query_row(
                "SELECT value FROM meta WHERE name = ?1",
                [PAYLOAD_FORMAT_NAME],
                |row| row.get(0),
            )
            .optional()
            .context("reading the payload format")?;
        if done.as_deref() == Some(PAYLOAD_FORMAT_FIXED) {
            return Ok(0);
        }
        let rows = self.raw_rows(
            "SELECT id, created_at, model_id, model_version, patient_ref, nonce, payload
             FROM screenings ORDER BY id",
            &[],
        )?;
        let mut updates = Vec::new();
        for row in rows {
            let Some((aad, payload, true)) = self.unseal(&row) else {
                continue;
            };
            let (nonce, sealed) = self.seal_payload(&payload, &aad)?;
            updates.push((row.id, nonce, sealed));
        }
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .context("starting a transaction")?;
        for (id, nonce, sealed) in &updates {
            tx.execute(
                "UPDATE screenings SET nonce = ?1, payload = ?2 WHERE id = ?3",
                params![nonce.to_vec(), sealed, id],
            )
            .context("re-sealing a screening")?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)",
            params![PAYLOAD_FORMAT_NAME, PAYLOAD_FORMAT_FIXED],
        )
        .context("recording the payload format")?;
        tx.commit().context("committing re-sealed screenings")?;
        Ok(updates.len())
    }

    /// Ids of every row, and for each whether it decrypts (for `db check`).
    pub(crate) fn decryptability(&self) -> Result<Vec<(i64, bool)>, StoreError> {
        let rows = self.raw_rows(
            "SELECT id, created_at, model_id, model_version, patient_ref, nonce, payload
             FROM screenings ORDER BY id",
            &[],
        )?;
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
        let version = i64::try_from(a.model_version)
            .map_err(|_| StoreError::Backend("model version out of range".into()))?;
        let payload = Payload {
            features: record.features.clone(),
            probability_code: a.probability_code,
            probability: a.probability,
            class: a.class,
        };
        let mut conn = self.conn()?;
        // One transaction: the row appears whole (sealed under its own id) or not at all.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .context("starting a transaction")?;
        let inserted = tx.execute(
            "INSERT INTO screenings (created_at, model_id, model_version, patient_ref, nonce, payload)
             VALUES (?1, ?2, ?3, ?4, x'', x'')",
            params![record.created_at, a.model_id, version, record.patient_ref.as_str()],
        );
        if let Err(e) = inserted {
            if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) {
                return Err(StoreError::Duplicate);
            }
            return Err(crate::errors::from_sqlite("storing a screening", e));
        }
        let id = tx.last_insert_rowid();
        let aad = row_aad(
            id,
            record.created_at,
            &a.model_id,
            a.model_version,
            record.patient_ref.as_str(),
        );
        let (nonce, sealed) = self.seal_payload(&payload, &aad)?;
        tx.execute(
            "UPDATE screenings SET nonce = ?1, payload = ?2 WHERE id = ?3",
            params![nonce.to_vec(), sealed, id],
        )
        .context("storing a screening")?;
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
        let mut rows = self.raw_rows(
            "SELECT id, created_at, model_id, model_version, patient_ref, nonce, payload
             FROM screenings WHERE model_id = ?1 AND model_version = ?2 AND patient_ref = ?3",
            &[&model_id, &version, &patient_ref.as_str()],
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

    /// A row as an older build sealed it (JSON, whose length varies), the format marker
    /// removed: opening again re-seals it in the fixed-width encoding, readable as before.
    #[test]
    fn legacy_json_rows_are_resealed_once_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.db");
        let key = || FieldKey::from_bytes([7u8; 32]);
        let db = Database::open(&path, key()).expect("open");
        let aad = row_aad(1, 100, "cvd-lr", 1, "p-legacy");
        let json = br#"{"features":[61.0,1.0],"probability_code":1982,"probability":0.48388671875,"class":"high"}"#;
        let (nonce, sealed) = db.key.seal(json, &aad).expect("seal");
        {
            let conn = db.conn().expect("conn");
            conn.execute(
                "INSERT INTO screenings (id, created_at, model_id, model_version, patient_ref, nonce, payload)
                 VALUES (1, 100, 'cvd-lr', 1, 'p-legacy', ?1, ?2)",
                params![nonce.to_vec(), sealed],
            )
            .expect("insert legacy row");
            conn.execute("DELETE FROM meta WHERE name = ?1", [PAYLOAD_FORMAT_NAME])
                .expect("drop marker");
        }
        drop(db);
        let db = Database::open(&path, key()).expect("reopen");
        let rows = db.all().expect("rows");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].record.assessment.probability_code, 1982);
        assert_eq!(rows[0].record.features, vec![61.0, 1.0]);
        let len: i64 = db
            .conn()
            .expect("conn")
            .query_row("SELECT length(payload) FROM screenings", [], |r| r.get(0))
            .expect("length");
        assert_eq!(len, 15 + 8 * 2 + 16, "re-sealed fixed-width");
        assert_eq!(db.reseal_legacy_payloads().expect("reseal"), 0, "only once");
    }
}
