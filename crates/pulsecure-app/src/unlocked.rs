//! The vault's secrets for one session: the database field key, the TFHE client key, the
//! hash that binds the public server-key file to this vault, and the vault's record of the
//! database's state (the model baselines, the spent and lifetime privacy budget and the
//! generation of its integrity state), which a database must not fall behind.

use std::sync::Mutex;

use pulsecure_core::ports::store::StoreError;
use pulsecure_core::Model;
use pulsecure_fhe::{client_key_from_bytes, ServerKeyId, TfheClient};
use pulsecure_signing::verify::sha256_hex;
use pulsecure_store::{Database, FieldKey, StateFloor};
use pulsecure_vault::{DataKey, Password, SecretEntries, VaultError, VaultUpdater};

use crate::data_dir::{create_private_file, read_file, DataDir};
use crate::error::{AppError, Result};

/// Vault entry holding the serialized TFHE client key.
pub const ENTRY_CLIENT_KEY: &str = "tfhe-client-key";
/// Vault entry holding the database field key.
pub const ENTRY_DATABASE_KEY: &str = "database-key";
/// Vault entry holding the hex SHA-256 of `server-key.bin` (binds the public key file).
pub const ENTRY_SERVER_KEY_SHA256: &str = "server-key-sha256";
/// Vault entry holding the database's state floor (see `pulsecure_store::StateFloor`).
pub const ENTRY_STATE_FLOOR: &str = "database-state-floor";
/// Vault entry holding the next database key while a key rotation is under way.
pub const ENTRY_DATABASE_KEY_NEXT: &str = "database-key-next";
/// Vault entry holding the saved evaluator setting (`pulsecure evaluator set`): kept in the
/// vault so that nobody without the password can redirect the ciphertexts.
pub const ENTRY_EVALUATOR: &str = "evaluator";

/// Secrets read from the vault (zeroized on drop by the vault crate).
pub struct Unlocked {
    entries: SecretEntries,
    updater: VaultUpdater,
    /// The floor as last read from or written to the vault (skips identical rewrites).
    recorded_floor: Mutex<Option<Vec<u8>>>,
    /// The database key in use when it differs from the entries read (a rotation finished
    /// during this session).
    rotated_key: Mutex<Option<DataKey>>,
}

fn key_entry(entries: &SecretEntries, name: &str) -> Result<DataKey> {
    Ok(DataKey::from_slice(entries.require(name)?)
        .ok_or_else(|| VaultError::InvalidEntry(format!("{name} is not 32 bytes")))?)
}

/// The last step of a key rotation: `next` (under which the database is now sealed)
/// becomes the vault's database key, and the pending entry goes.
pub(crate) fn promote_next_database_key(updater: &VaultUpdater, next: &DataKey) -> Result<()> {
    let value = next.expose().to_vec();
    updater.update(|entries| {
        entries.insert(ENTRY_DATABASE_KEY, value)?;
        entries.remove(ENTRY_DATABASE_KEY_NEXT);
        Ok(())
    })?;
    Ok(())
}

impl Unlocked {
    /// Open the vault of `dir` with `password`.
    pub fn open(dir: &DataDir, password: &Password) -> Result<Self> {
        dir.require_initialized()?;
        let (entries, updater) = pulsecure_vault::open_for_update(&dir.vault(), password)?;
        Ok(Self::with_entries(entries, updater))
    }

    /// The secrets of a vault already open (or just created) with its updater.
    pub(crate) fn with_entries(entries: SecretEntries, updater: VaultUpdater) -> Self {
        let recorded_floor = Mutex::new(entries.get(ENTRY_STATE_FLOOR).map(<[u8]>::to_vec));
        Unlocked {
            entries,
            updater,
            recorded_floor,
            rotated_key: Mutex::new(None),
        }
    }

    /// A vault entry, if present.
    pub(crate) fn entry(&self, name: &str) -> Option<&[u8]> {
        self.entries.get(name)
    }

    /// Write (or, with `None`, remove) a vault entry, atomically.
    pub(crate) fn set_entry(&self, name: &str, value: Option<Vec<u8>>) -> Result<()> {
        self.updater.update(|entries| {
            match value {
                Some(value) => entries.insert(name, value)?,
                None => {
                    entries.remove(name);
                }
            }
            Ok(())
        })?;
        Ok(())
    }

    /// The database field key.
    pub fn field_key(&self) -> Result<FieldKey> {
        if let Some(key) = self.lock_rotated()?.as_ref() {
            return Ok(FieldKey::from_bytes(*key.expose()));
        }
        Ok(FieldKey::from_bytes(
            *key_entry(&self.entries, ENTRY_DATABASE_KEY)?.expose(),
        ))
    }

    fn lock_rotated(&self) -> Result<std::sync::MutexGuard<'_, Option<DataKey>>> {
        self.rotated_key
            .lock()
            .map_err(|_| AppError::Integrity("vault state lock poisoned by a panic".into()))
    }

    /// The vault's record of the database's state, if it has one.
    pub(crate) fn floor(&self) -> Result<Option<StateFloor>> {
        match self.entries.get(ENTRY_STATE_FLOOR) {
            None => Ok(None),
            Some(bytes) => Ok(Some(StateFloor::from_bytes(bytes).ok_or_else(|| {
                VaultError::InvalidEntry(format!("{ENTRY_STATE_FLOOR} is malformed"))
            })?)),
        }
    }

    /// Open `dir`'s database, checked against the vault's record (created 0600 if it is
    /// missing, with the record carried over), finish a key rotation that was interrupted
    /// after the database committed, and record the database's state in the vault.
    pub fn open_database(&self, dir: &DataDir) -> Result<Database> {
        // A database deleted since `init` is re-created 0600, not with the umask's mode.
        create_private_file(&dir.database())?;
        let floor = self.floor()?;
        let db = match Database::open_checked(&dir.database(), self.field_key()?, floor.as_ref()) {
            Err(StoreError::WrongKey) if self.entries.get(ENTRY_DATABASE_KEY_NEXT).is_some() => {
                let next = key_entry(&self.entries, ENTRY_DATABASE_KEY_NEXT)?;
                let db = Database::open_checked(
                    &dir.database(),
                    FieldKey::from_bytes(*next.expose()),
                    floor.as_ref(),
                )?;
                self.finish_rotation(next)?;
                db
            }
            other => other?,
        };
        self.record_floor(&db)?;
        Ok(db)
    }

    /// Make `next` the vault's database key (the database is already sealed under it).
    pub(crate) fn finish_rotation(&self, next: DataKey) -> Result<()> {
        promote_next_database_key(&self.updater, &next)?;
        *self.lock_rotated()? = Some(next);
        Ok(())
    }

    /// Record `db`'s state in the vault (merged with what the vault holds, so it only
    /// rises), unless it is what was last recorded.
    pub fn record_floor(&self, db: &Database) -> Result<()> {
        self.write_floor(db.state_floor()?)
    }

    /// Record `total` as the lifetime budget before the database holds it (`init`): a
    /// crash in between leaves the vault's budget above the database's, which is accepted,
    /// never below, which is refused as a raised budget.
    pub(crate) fn record_budget_first(&self, db: &Database, total: f64) -> Result<()> {
        let mut floor = db.state_floor()?;
        floor.total_epsilon = total;
        self.write_floor(floor)
    }

    fn write_floor(&self, floor: StateFloor) -> Result<()> {
        let bytes = floor.to_bytes();
        let mut recorded = self
            .recorded_floor
            .lock()
            .map_err(|_| AppError::Integrity("vault state lock poisoned by a panic".into()))?;
        if recorded.as_deref() == Some(bytes.as_slice()) {
            return Ok(());
        }
        let mut written = bytes.clone();
        self.updater.update(|entries| {
            let merged = match entries
                .get(ENTRY_STATE_FLOOR)
                .and_then(StateFloor::from_bytes)
            {
                Some(stored) => stored.merged(&floor),
                None => floor.clone(),
            };
            written = merged.to_bytes();
            entries.insert(ENTRY_STATE_FLOOR, written.clone())
        })?;
        *recorded = Some(written);
        Ok(())
    }

    /// The server key bytes, checked against the hash the vault recorded.
    pub fn server_key_bytes(&self, dir: &DataDir) -> Result<Vec<u8>> {
        let bytes = read_file(&dir.server_key())?;
        let expected = self.entries.require(ENTRY_SERVER_KEY_SHA256)?;
        if sha256_hex(&bytes).as_bytes() != expected {
            return Err(AppError::Integrity(format!(
                "{} does not match the server key recorded in the vault",
                dir.server_key().display()
            )));
        }
        Ok(bytes)
    }

    /// The identity of this workstation's server key, from the SHA-256 the vault recorded
    /// when the keys were made: the first 16 bytes, as `ServerKeyId::of_key` gives them from the file.
    /// Opening a workstation against a remote evaluator needs no more than this, so the
    /// 30 MB file is read only to upload it (`keys register`) or to evaluate in-process.
    pub fn server_key_id(&self) -> Result<ServerKeyId> {
        let recorded = self.entries.require(ENTRY_SERVER_KEY_SHA256)?;
        std::str::from_utf8(recorded)
            .ok()
            .and_then(ServerKeyId::from_hex)
            .ok_or_else(|| AppError::Integrity("the vault's server key record is damaged".into()))
    }

    /// The key set's fingerprint as `pulsecure keys show` prints it (`SHA256:xxxx:...`),
    /// from the vault's record.
    pub fn key_set(&self) -> Result<String> {
        Ok(self.server_key_id()?.to_string())
    }

    /// The TFHE client for the schema-2 `model`, bound to key set `key_id`.
    pub fn equation_client(
        &self,
        model: &pulsecure_core::domain::equation_model::EquationModel,
        key_id: ServerKeyId,
    ) -> Result<pulsecure_fhe::EquationClient> {
        let client_key = client_key_from_bytes(self.entries.require(ENTRY_CLIENT_KEY)?)?;
        Ok(pulsecure_fhe::EquationClient::new(
            model, client_key, key_id,
        )?)
    }

    /// The TFHE client for `model`, bound to key set `key_id`.
    pub fn client(&self, model: &Model, key_id: ServerKeyId) -> Result<TfheClient> {
        let client_key = client_key_from_bytes(self.entries.require(ENTRY_CLIENT_KEY)?)?;
        Ok(TfheClient::new(model, client_key, key_id)?)
    }
}
