//! The data directory and an unlocked session: vault secrets, TFHE client and evaluator,
//! and the database, wired together for one command.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::Model;
use pulsecure_fhe::{client_key_from_bytes, key_id_of, TfheClient, TfheEvaluator};
use pulsecure_store::{Database, FieldKey};
use pulsecure_vault::{DataKey, Password, SecretEntries};

use crate::embedded::IntegrityError;
use pulsecure_signing::verify::sha256_hex;

/// Vault entry holding the serialized TFHE client key.
pub const ENTRY_CLIENT_KEY: &str = "tfhe-client-key";
/// Vault entry holding the database field key.
pub const ENTRY_DATABASE_KEY: &str = "database-key";
/// Vault entry holding the hex SHA-256 of `server-key.bin` (binds the public key file).
pub const ENTRY_SERVER_KEY_SHA256: &str = "server-key-sha256";

/// Files of a data directory.
#[derive(Clone, Debug)]
pub struct DataDir {
    /// The directory.
    pub root: PathBuf,
}

impl DataDir {
    /// Use `root` (not created until `init`).
    pub fn new(root: PathBuf) -> Self {
        DataDir { root }
    }

    /// The encrypted key vault.
    pub fn vault(&self) -> PathBuf {
        self.root.join("vault.psv")
    }

    /// The compressed server key (public).
    pub fn server_key(&self) -> PathBuf {
        self.root.join("server-key.bin")
    }

    /// The SQLite database.
    pub fn database(&self) -> PathBuf {
        self.root.join("pulsecure.db")
    }

    /// Fail with a helpful message unless `init` has run.
    pub fn require_initialized(&self) -> Result<()> {
        if !self.vault().exists() {
            anyhow::bail!(
                "no vault in {}: run `pulsecure init` first (or pass --data-dir)",
                self.root.display()
            );
        }
        Ok(())
    }
}

/// Secrets read from the vault.
pub struct Unlocked {
    entries: SecretEntries,
}

impl Unlocked {
    /// Open the vault with `password`.
    pub fn open(dir: &DataDir, password: &Password) -> Result<Self> {
        dir.require_initialized()?;
        let entries = pulsecure_vault::open(&dir.vault(), password)?;
        Ok(Unlocked { entries })
    }

    /// The database field key.
    pub fn field_key(&self) -> Result<FieldKey> {
        let key = DataKey::from_slice(self.entries.require(ENTRY_DATABASE_KEY)?)
            .context("the vault's database key is not 32 bytes")?;
        Ok(FieldKey::from_bytes(*key.expose()))
    }

    /// The server key bytes, checked against the hash the vault recorded.
    pub fn server_key_bytes(&self, dir: &DataDir) -> Result<Vec<u8>> {
        let bytes = std::fs::read(dir.server_key())
            .with_context(|| format!("reading {}", dir.server_key().display()))?;
        let expected = self.entries.require(ENTRY_SERVER_KEY_SHA256)?;
        if sha256_hex(&bytes).as_bytes() != expected {
            return Err(IntegrityError(format!(
                "{} does not match the server key recorded in the vault",
                dir.server_key().display()
            ))
            .into());
        }
        Ok(bytes)
    }

    /// The TFHE client for `model`, bound to this key set.
    pub fn client(&self, model: &Model, server_key_bytes: &[u8]) -> Result<TfheClient> {
        let client_key = client_key_from_bytes(self.entries.require(ENTRY_CLIENT_KEY)?)?;
        Ok(TfheClient::new(
            model,
            client_key,
            key_id_of(server_key_bytes),
        )?)
    }
}

/// Everything a screening command needs.
pub struct Session {
    /// The active model.
    pub model: Model,
    /// Client side (secret key).
    pub client: TfheClient,
    /// Evaluator (server key only); in-process here, bytes in and out.
    pub evaluator: TfheEvaluator,
    /// The database.
    pub db: Database,
}

/// Open the database with the vault's field key and log the unlock.
pub fn open_database(dir: &DataDir, unlocked: &Unlocked) -> Result<Database> {
    let db = Database::open(&dir.database(), unlocked.field_key()?)?;
    db.log_event(AuditEvent::VaultUnlocked, "")?;
    Ok(db)
}

impl Session {
    /// Unlock the vault and set up database, active model, client and evaluator.
    pub fn start(dir: &DataDir, password: &Password) -> Result<Self> {
        let unlocked = Unlocked::open(dir, password)?;
        let server_key = unlocked.server_key_bytes(dir)?;
        let db = open_database(dir, &unlocked)?;
        let model = crate::model_cmd::active_model(dir, &db)?;
        let client = unlocked.client(&model, &server_key)?;
        let evaluator = TfheEvaluator::new(&server_key, &model)?;
        tracing::info!(
            model_id = model.id(),
            model_version = model.version(),
            "vault unlocked, session ready"
        );
        Ok(Session {
            model,
            client,
            evaluator,
            db,
        })
    }
}

/// Create the data directory (mode 0700) if needed.
pub fn create_dir_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .with_context(|| format!("creating {}", path.display()))
}
