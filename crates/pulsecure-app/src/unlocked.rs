//! The vault's secrets for one session: the database field key, the TFHE client key, and
//! the hash that binds the public server-key file to this vault.

use pulsecure_core::Model;
use pulsecure_fhe::{client_key_from_bytes, key_id_of, TfheClient};
use pulsecure_signing::verify::sha256_hex;
use pulsecure_store::FieldKey;
use pulsecure_vault::{DataKey, Password, SecretEntries, VaultError};

use crate::data_dir::{read_file, DataDir};
use crate::error::{AppError, Result};

/// Vault entry holding the serialized TFHE client key.
pub const ENTRY_CLIENT_KEY: &str = "tfhe-client-key";
/// Vault entry holding the database field key.
pub const ENTRY_DATABASE_KEY: &str = "database-key";
/// Vault entry holding the hex SHA-256 of `server-key.bin` (binds the public key file).
pub const ENTRY_SERVER_KEY_SHA256: &str = "server-key-sha256";

/// Secrets read from the vault (zeroized on drop by the vault crate).
pub struct Unlocked {
    entries: SecretEntries,
}

impl Unlocked {
    /// Open the vault of `dir` with `password`.
    pub fn open(dir: &DataDir, password: &Password) -> Result<Self> {
        dir.require_initialized()?;
        let entries = pulsecure_vault::open(&dir.vault(), password)?;
        Ok(Unlocked { entries })
    }

    /// The database field key.
    pub fn field_key(&self) -> Result<FieldKey> {
        let key =
            DataKey::from_slice(self.entries.require(ENTRY_DATABASE_KEY)?).ok_or_else(|| {
                VaultError::InvalidEntry(format!("{ENTRY_DATABASE_KEY} is not 32 bytes"))
            })?;
        Ok(FieldKey::from_bytes(*key.expose()))
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
