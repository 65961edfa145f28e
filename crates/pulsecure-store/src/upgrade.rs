//! Moving schema-4 screenings (reference and time in clear, outcome sealed) into the
//! schema-5 table (reference tag and day in clear, everything else sealed), in one
//! transaction, keeping the row ids.

use pulsecure_core::ports::store::StoreError;
use rusqlite::{params, Connection, OptionalExtension};

use crate::database::Database;
use crate::errors::SqliteContext;
use crate::schema::SCHEMA_4_SCREENINGS;
use crate::sealed_payload::{Outcome, Payload};

/// Associated data of a schema-4 row.
fn schema_4_aad(
    id: i64,
    created_at: i64,
    model_id: &str,
    version: u64,
    patient_ref: &str,
) -> Vec<u8> {
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

/// A schema-4 row.
struct Schema4Row {
    id: i64,
    created_at: i64,
    model_id: String,
    model_version: i64,
    patient_ref: String,
    nonce: Vec<u8>,
    payload: Vec<u8>,
}

fn table_exists(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [name],
            |_| Ok(()),
        )
        .optional()
        .context("reading the schema")?
        .is_some())
}

impl Database {
    /// Move every schema-4 row, if the schema-4 table is still there; returns how many.
    /// A row that does not decrypt under this key stops the upgrade (nothing is changed):
    /// moving it would lose it, and `db check` of the previous build can say which it is.
    pub(crate) fn move_schema_4_rows(&self) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        if !table_exists(&conn, SCHEMA_4_SCREENINGS)? {
            return Ok(0);
        }
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .context("starting the schema-5 upgrade")?;
        let rows = {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT id, created_at, model_id, model_version, patient_ref, nonce, payload
                     FROM {SCHEMA_4_SCREENINGS} ORDER BY id"
                ))
                .context("reading schema-4 screenings")?;
            let rows = stmt
                .query_map([], |row| {
                    Ok(Schema4Row {
                        id: row.get(0)?,
                        created_at: row.get(1)?,
                        model_id: row.get(2)?,
                        model_version: row.get(3)?,
                        patient_ref: row.get(4)?,
                        nonce: row.get(5)?,
                        payload: row.get(6)?,
                    })
                })
                .context("reading schema-4 screenings")?
                .collect::<Result<Vec<_>, _>>()
                .context("reading schema-4 screenings")?;
            rows
        };
        let moved = rows.len();
        // The schema-4 table goes first: every insert below checks that the schema is the
        // one this build defines.
        tx.execute_batch(&format!("DROP TABLE {SCHEMA_4_SCREENINGS}"))
            .context("removing the schema-4 table")?;
        for row in rows {
            let corrupt = StoreError::Corrupt { id: row.id };
            let version = u64::try_from(row.model_version).map_err(|_| corrupt.clone())?;
            let aad = schema_4_aad(
                row.id,
                row.created_at,
                &row.model_id,
                version,
                &row.patient_ref,
            );
            let plain = self
                .key
                .open(&row.nonce, &row.payload, &aad)
                .ok_or_else(|| corrupt.clone())?;
            let outcome = Outcome::decode_legacy(&plain).ok_or(corrupt)?;
            let payload = Payload {
                patient_ref: row.patient_ref,
                created_at: row.created_at,
                status: pulsecure_core::ports::store::RecordStatus::Screened,
                outcome,
            };
            self.insert_sealed(&tx, Some(row.id), &row.model_id, version, &payload)?;
        }
        // A schema-4 database has no integrity records; the state the inserts started is
        // dropped so the opening code sees it as one (and adopts it only if the vault allows).
        tx.execute(
            "DELETE FROM meta WHERE name = 'payload-format' OR name LIKE 'integrity:%'",
            params![],
        )
        .context("removing schema-4 markers")?;
        tx.commit().context("committing the schema-5 upgrade")?;
        Ok(moved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::{KEY_CHECK_NAME, KEY_CHECK_PLAIN};
    use crate::field_cipher::FieldKey;
    use crate::schema::migrate_to;
    use pulsecure_core::ports::store::ScreeningStore;

    /// A schema-4 database with a JSON row and a fixed-width row is upgraded: both read back
    /// with their reference and time, which are no longer in any clear column.
    #[test]
    fn schema_4_rows_move_to_schema_5_with_reference_and_time_sealed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.db");
        let key = FieldKey::from_bytes([7u8; 32]);
        {
            let mut conn = Connection::open(&path).expect("open");
            migrate_to(&mut conn, 4).expect("schema 4");
            // The key check every schema-4 database holds.
            let (nonce, sealed) = key
                .seal(KEY_CHECK_PLAIN, KEY_CHECK_NAME.as_bytes())
                .expect("seal");
            let mut blob = nonce.to_vec();
            blob.extend_from_slice(&sealed);
            conn.execute(
                "INSERT INTO meta (name, value) VALUES (?1, ?2)",
                params![KEY_CHECK_NAME, blob],
            )
            .expect("key check");
            let json = br#"{"features":[61.0,1.0],"probability_code":1982,"probability":0.48388671875,"class":"high"}"#;
            let mut fixed = vec![0x02u8, 2];
            for v in [44.0f64, 0.0] {
                fixed.extend_from_slice(&v.to_le_bytes());
            }
            fixed.extend_from_slice(&(44.0f64 / 4096.0).to_le_bytes());
            fixed.extend_from_slice(&44u32.to_le_bytes());
            fixed.push(0);
            for (id, reference, plain) in [(1i64, "p-json", &json[..]), (2, "p-fixed", &fixed)] {
                let aad = schema_4_aad(id, 100 + id, "cvd-lr", 1, reference);
                let (nonce, sealed) = key.seal(plain, &aad).expect("seal");
                conn.execute(
                    "INSERT INTO screenings (id, created_at, model_id, model_version, patient_ref, nonce, payload)
                     VALUES (?1, ?2, 'cvd-lr', 1, ?3, ?4, ?5)",
                    params![id, 100 + id, reference, nonce.to_vec(), sealed],
                )
                .expect("insert schema-4 row");
            }
        }
        let db = Database::open(&path, key).expect("upgrade");
        let rows = db.all().expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].record.patient_ref.as_str(), "p-json");
        assert_eq!(rows[0].record.created_at, 101);
        assert_eq!(rows[0].record.assessment.probability_code, 1982);
        assert_eq!(rows[1].record.patient_ref.as_str(), "p-fixed");
        assert_eq!(rows[1].record.features, vec![44.0, 0.0]);
        let conn = db.conn().expect("conn");
        let clear: Vec<(i64, Vec<u8>)> = conn
            .prepare("SELECT created_day, ref_tag FROM screenings")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert!(clear.iter().all(|(day, tag)| *day == 0 && tag.len() == 32));
        assert!(!table_exists(&conn, SCHEMA_4_SCREENINGS).expect("schema"));
    }
}
