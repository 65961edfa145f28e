//! Pulsecure's key vault.
//!
//! Every piece of key material the clinician's machine holds (the TFHE client key, the
//! database field key) lives in one file, encrypted with AES-256-GCM under a random 256-bit
//! data-encryption key (DEK). The DEK itself is wrapped with a key derived from the user's
//! password by Argon2id. Changing the password re-wraps the DEK only; the encrypted payload
//! stays byte-identical. The on-disk format is documented in `docs/vault-format.md`.
//!
//! Secrets are held in [`secrecy`] boxes or types that zeroize on drop and whose `Debug`
//! output is redacted; errors never carry key bytes or passwords.

mod atomic;
mod error;
mod fingerprint;
mod format;
mod inspect;
mod kdf;
mod kdf_params;
mod payload;
mod secret;
mod vault;

pub use atomic::write_atomic;
pub use error::VaultError;
pub use fingerprint::fingerprint;
pub use format::{FORMAT_VERSION, MAGIC};
pub use inspect::{inspect, VaultInfo};
pub use kdf_params::KdfParams;
pub use payload::{SecretEntries, MAX_ENTRIES};
pub use secret::{DataKey, Password, MIN_PASSWORD_CHARS};
pub use vault::{change_password, create, open, open_bytes, open_for_update, VaultUpdater};
