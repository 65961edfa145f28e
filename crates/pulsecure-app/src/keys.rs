//! Key operations: creating a workstation's key set and vault, changing the password,
//! exporting the public server key — each audited.

use std::path::Path;
use std::time::{Duration, Instant};

use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::ports::privacy::PrivacyError;
use pulsecure_fhe::{client_key_to_bytes, generate_keys};
use pulsecure_signing::verify::sha256_hex;
use pulsecure_store::FieldKey;
use pulsecure_vault::{fingerprint, write_atomic, DataKey, KdfParams, Password, SecretEntries};

use crate::active_model::active_model;
use crate::catalog::Catalog;
use crate::data_dir::{create_dir_private, read_file, DataDir};
use crate::error::{AppError, Result};
use crate::trust::Trust;
use crate::unlocked::{
    promote_next_database_key, Unlocked, ENTRY_CLIENT_KEY, ENTRY_DATABASE_KEY,
    ENTRY_DATABASE_KEY_NEXT, ENTRY_SERVER_KEY_SHA256,
};

/// What `init` created.
#[derive(Clone, Debug)]
pub struct InitReport {
    /// Fingerprint of the new key set (its public server key).
    pub key_set: String,
    /// `id vVERSION` of the model recorded as the anti-rollback baseline.
    pub model: String,
    /// Time to generate the TFHE keys.
    pub keygen: Duration,
    /// Time to derive the password key and seal the vault.
    pub sealing: Duration,
}

/// Everything `init` can refuse before any key is made: an existing vault, an unsafe KDF
/// cost, an invalid budget. Front ends call it before asking for a new password.
pub fn check_init(dir: &DataDir, kdf: KdfParams, dp_budget: f64) -> Result<()> {
    if dir.vault().exists() {
        return Err(AppError::AlreadyInitialized {
            dir: dir.root().to_path_buf(),
        });
    }
    dir.check_private()?;
    if std::fs::symlink_metadata(dir.database()).is_ok() {
        return Err(AppError::DatabaseExists {
            path: dir.database(),
        });
    }
    kdf.check()?;
    if !dp_budget.is_finite() || dp_budget <= 0.0 {
        return Err(PrivacyError::InvalidBudget.into());
    }
    Ok(())
}

/// Create `dir` (0700), a TFHE key set, a database key, the vault sealing both under
/// `password`, and the database with its lifetime privacy budget.
pub fn init(
    dir: &DataDir,
    password: &Password,
    kdf: KdfParams,
    dp_budget: f64,
) -> Result<InitReport> {
    check_init(dir, kdf, dp_budget)?;
    create_dir_private(dir.root())?;
    let t = Instant::now();
    let keys = generate_keys()?;
    let keygen = t.elapsed();
    let database_key = DataKey::generate()?;
    let mut entries = SecretEntries::new();
    entries.insert(
        ENTRY_CLIENT_KEY,
        client_key_to_bytes(&keys.client_key)?.to_vec(),
    )?;
    entries.insert(ENTRY_DATABASE_KEY, database_key.expose().to_vec())?;
    entries.insert(
        ENTRY_SERVER_KEY_SHA256,
        sha256_hex(&keys.server_key_bytes).into_bytes(),
    )?;
    // The public key first: if anything later fails, no vault refers to it yet.
    write_atomic(&dir.server_key(), &keys.server_key_bytes)?;
    let t = Instant::now();
    let updater = pulsecure_vault::create(&dir.vault(), password, kdf, &entries)?;
    let sealing = t.elapsed();
    let unlocked = Unlocked::with_entries(entries, updater);
    let db = unlocked.open_database(dir)?;
    let key_set = fingerprint(&keys.server_key_bytes);
    db.log_event(AuditEvent::VaultCreated, &format!("key set {key_set}"))?;
    unlocked.record_budget_first(&db, dp_budget)?;
    db.set_privacy_budget(dp_budget)?;
    let catalog = Catalog::new(dir.clone(), Trust::load(&db)?);
    let model = active_model(&db, &catalog)?;
    unlocked.record_floor(&db)?;
    Ok(InitReport {
        key_set,
        model: format!("{} v{}", model.id(), model.version()),
        keygen,
        sealing,
    })
}

/// A password change whose old password has been checked (so the new one is asked only
/// after that).
pub struct PasswordChange {
    dir: DataDir,
    unlocked: Unlocked,
}

impl PasswordChange {
    /// Check `old` against `dir`'s vault.
    pub fn begin(dir: &DataDir, old: &Password) -> Result<Self> {
        Ok(PasswordChange {
            dir: dir.clone(),
            unlocked: Unlocked::open(dir, old)?,
        })
    }

    /// Re-wrap the vault's data key under `new` (the payload is unchanged; audited). The
    /// audit entry's generation is recorded in the vault at the next unlock, not here, so
    /// that the payload stays byte for byte what it was.
    pub fn finish(self, old: &Password, new: &Password) -> Result<()> {
        pulsecure_vault::change_password(&self.dir.vault(), old, new, None)?;
        if self.dir.database().exists() {
            let db = self.unlocked.open_database(&self.dir)?;
            db.log_event(AuditEvent::PasswordChanged, "")?;
        }
        Ok(())
    }
}

/// What a key rotation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationReport {
    /// Screenings re-sealed under the new database key.
    pub screenings: usize,
}

/// Where a rotation stops early (tests of crash recovery).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StopAfter {
    Never,
    #[cfg(test)]
    VaultRewrapped,
    #[cfg(test)]
    DatabaseResealed,
}

/// Replace the vault's data key and the database key, re-sealing every row, so that an
/// old copy of the vault opened with an old password no longer reads today's database.
/// The TFHE keys stay (the evaluator's server key remains valid).
///
/// Order, each step atomic: (1) the vault gets a new data key and holds the new database
/// key beside the current one; (2) the database is re-sealed in one transaction; (3) the
/// new database key replaces the old one in the vault. Interrupted after (1), the database
/// still opens under the old key (run the rotation again); after (2), the next unlock finds
/// the database under the new key and finishes (3).
pub fn rotate(
    dir: &DataDir,
    password: &Password,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<RotationReport> {
    rotate_until(dir, password, progress, StopAfter::Never)
}

fn rotate_until(
    dir: &DataDir,
    password: &Password,
    progress: &mut dyn FnMut(usize, usize),
    stop: StopAfter,
) -> Result<RotationReport> {
    // Opening first: checks the database and finishes an interrupted rotation.
    let db = Unlocked::open(dir, password)?.open_database(dir)?;
    // Jobs in the queue are sealed under the current key and map job ids to patients:
    // they are collected first, never re-sealed half-way.
    let queued = db.queued_job_count()?;
    if queued > 0 {
        return Err(AppError::JobsPending(queued));
    }
    let (mut entries, mut updater) = pulsecure_vault::open_for_update(&dir.vault(), password)?;
    let next = DataKey::generate()?;
    entries.insert(ENTRY_DATABASE_KEY_NEXT, next.expose().to_vec())?;
    updater.rotate(password, &entries)?;
    #[cfg(test)]
    if stop == StopAfter::VaultRewrapped {
        return Ok(RotationReport { screenings: 0 });
    }
    let mut screenings = 0;
    let db = db.rekey(FieldKey::from_bytes(*next.expose()), &mut |done, total| {
        screenings = total;
        progress(done, total);
    })?;
    #[cfg(test)]
    if stop == StopAfter::DatabaseResealed {
        return Ok(RotationReport { screenings });
    }
    let _ = stop;
    promote_next_database_key(&updater, &next)?;
    drop(db);
    Ok(RotationReport { screenings })
}

/// Fingerprint of the public server key (no password needed).
pub fn server_key_fingerprint(dir: &DataDir) -> Result<String> {
    dir.require_initialized()?;
    Ok(fingerprint(&read_file(&dir.server_key())?))
}

/// Copy the server key, verified against the vault's record, to `out` (audited). Returns
/// its size and fingerprint.
pub fn export_server_key(
    dir: &DataDir,
    password: &Password,
    out: &Path,
) -> Result<(usize, String)> {
    let unlocked = Unlocked::open(dir, password)?;
    let bytes = unlocked.server_key_bytes(dir)?;
    write_atomic(out, &bytes)?;
    let db = unlocked.open_database(dir)?;
    let print = fingerprint(&bytes);
    db.log_event(AuditEvent::ServerKeyExported, &format!("key set {print}"))?;
    unlocked.record_floor(&db)?;
    Ok((bytes.len(), print))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Records;
    use pulsecure_core::ports::store::{ScreeningRecord, ScreeningStore};
    use pulsecure_core::{PatientRef, RiskAssessment, RiskClass};

    fn initialized() -> (tempfile::TempDir, DataDir, Password) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = DataDir::new(tmp.path().join("data"));
        let password = Password::from("correct horse battery staple".to_string());
        let kdf = KdfParams {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        };
        init(&dir, &password, kdf, 1.0).expect("init");
        (tmp, dir, password)
    }

    fn store_one(dir: &DataDir, password: &Password) {
        let records = Records::open(dir, password).expect("open");
        records
            .database()
            .save(&ScreeningRecord {
                patient_ref: PatientRef::parse("R-1").expect("ref"),
                created_at: 1_700_000_000,
                features: vec![63.0; 9],
                assessment: RiskAssessment {
                    probability_code: 700,
                    probability: 700.0 / 4096.0,
                    class: RiskClass::High,
                    model_id: "cvd-lr".into(),
                    model_version: 1,
                },
                status: pulsecure_core::ports::store::RecordStatus::Screened,
            })
            .expect("save");
    }

    fn vault_has(dir: &DataDir, password: &Password, entry: &str) -> bool {
        pulsecure_vault::open(&dir.vault(), password)
            .expect("vault")
            .get(entry)
            .is_some()
    }

    /// Every write of a command raises the database's generation, and the vault records the
    /// last one when the command's records go: a copy of the file taken after the command
    /// opened it, before it wrote, is then behind the vault's record.
    #[test]
    fn a_commands_last_write_is_recorded_in_the_vault_when_its_records_go() {
        let (_tmp, dir, password) = initialized();
        store_one(&dir, &password);
        let unlocked = Unlocked::open(&dir, &password).expect("vault");
        let recorded = unlocked
            .floor()
            .expect("floor")
            .expect("the vault has a floor")
            .generation;
        // Opened without the vault: nothing is written, the generation is the command's.
        let db =
            pulsecure_store::Database::open(&dir.database(), unlocked.field_key().expect("key"))
                .expect("database");
        assert_eq!(recorded, db.state_floor().expect("state").generation);
    }

    /// A crash after the database committed leaves the vault with the old and the next key:
    /// the next unlock reads the database under the next key and makes it the key.
    #[test]
    fn a_rotation_interrupted_after_the_database_committed_is_finished_at_the_next_unlock() {
        let (_tmp, dir, password) = initialized();
        store_one(&dir, &password);
        let report = rotate_until(&dir, &password, &mut |_, _| {}, StopAfter::DatabaseResealed)
            .expect("rotation up to the database");
        assert_eq!(report.screenings, 1);
        assert!(vault_has(&dir, &password, ENTRY_DATABASE_KEY_NEXT));
        let records = Records::open(&dir, &password).expect("finishes the rotation");
        assert_eq!(records.database().all().expect("rows").len(), 1);
        drop(records);
        assert!(!vault_has(&dir, &password, ENTRY_DATABASE_KEY_NEXT));
        assert_eq!(
            Records::open(&dir, &password)
                .expect("plain open")
                .database()
                .all()
                .expect("rows")
                .len(),
            1
        );
    }

    /// A crash after the vault was re-wrapped, before the database: it still opens under
    /// the old key, and a new rotation completes.
    #[test]
    fn a_rotation_interrupted_before_the_database_loses_nothing() {
        let (_tmp, dir, password) = initialized();
        store_one(&dir, &password);
        rotate_until(&dir, &password, &mut |_, _| {}, StopAfter::VaultRewrapped)
            .expect("rotation up to the vault");
        assert_eq!(
            Records::open(&dir, &password)
                .expect("old key still works")
                .database()
                .all()
                .expect("rows")
                .len(),
            1
        );
        let report = rotate(&dir, &password, &mut |_, _| {}).expect("rotate again");
        assert_eq!(report.screenings, 1);
        assert!(!vault_has(&dir, &password, ENTRY_DATABASE_KEY_NEXT));
        assert_eq!(
            Records::open(&dir, &password)
                .expect("open")
                .database()
                .all()
                .expect("rows")
                .len(),
            1
        );
    }
}
