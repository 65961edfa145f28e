//! Key operations: creating a workstation's key set and vault, changing the password,
//! exporting the public server key — each audited.

use std::path::Path;
use std::time::{Duration, Instant};

use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::ports::privacy::PrivacyError;
use pulsecure_fhe::{client_key_to_bytes, generate_keys};
use pulsecure_signing::verify::sha256_hex;
use pulsecure_store::{Database, FieldKey};
use pulsecure_vault::{fingerprint, write_atomic, DataKey, KdfParams, Password, SecretEntries};

use crate::catalog::Catalog;
use crate::data_dir::{create_dir_private, create_private_file, read_file, DataDir};
use crate::error::{AppError, Result};
use crate::models::{active_model, Trust};
use crate::unlocked::{Unlocked, ENTRY_CLIENT_KEY, ENTRY_DATABASE_KEY, ENTRY_SERVER_KEY_SHA256};

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
    pulsecure_vault::create(&dir.vault(), password, kdf, &entries)?;
    let sealing = t.elapsed();
    create_private_file(&dir.database())?;
    let db = Database::open(
        &dir.database(),
        FieldKey::from_bytes(*database_key.expose()),
    )?;
    let key_set = fingerprint(&keys.server_key_bytes);
    db.log_event(AuditEvent::VaultCreated, &format!("key set {key_set}"))?;
    db.set_privacy_budget(dp_budget)?;
    let catalog = Catalog::new(dir.clone(), Trust::load(&db)?);
    let model = active_model(&db, &catalog)?;
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

    /// Re-wrap the vault's data key under `new` (the payload is unchanged; audited).
    pub fn finish(self, old: &Password, new: &Password) -> Result<()> {
        pulsecure_vault::change_password(&self.dir.vault(), old, new, None)?;
        if self.dir.database().exists() {
            let db = Database::open(&self.dir.database(), self.unlocked.field_key()?)?;
            db.log_event(AuditEvent::PasswordChanged, "")?;
        }
        Ok(())
    }
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
    let db = Database::open(&dir.database(), unlocked.field_key()?)?;
    let print = fingerprint(&bytes);
    db.log_event(AuditEvent::ServerKeyExported, &format!("key set {print}"))?;
    Ok((bytes.len(), print))
}
