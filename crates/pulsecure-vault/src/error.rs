//! Vault failures. Messages say what is wrong with the file or the request, never which
//! bytes a key or password had.

use thiserror::Error;

use crate::kdf_params::KdfParams;

/// Everything that can go wrong creating, opening or re-keying a vault.
#[derive(Debug, Error)]
pub enum VaultError {
    /// The file does not start with the vault magic bytes.
    #[error("not a Pulsecure vault (wrong magic bytes)")]
    BadMagic,
    /// A vault written by a different format version.
    #[error("unsupported vault format version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// Version in the file.
        found: u16,
        /// Version this build reads.
        supported: u16,
    },
    /// The file is shorter or longer than its header says.
    #[error(
        "vault file is truncated or has trailing bytes: expected {expected} bytes, found {found}"
    )]
    BadLength {
        /// Length the header implies.
        expected: u64,
        /// Actual length.
        found: u64,
    },
    /// Argon2id parameters outside the accepted window.
    #[error("Argon2id parameters {params} refused: {reason}")]
    UnsafeKdfParams {
        /// The parameters found.
        params: KdfParams,
        /// Which bound they break.
        reason: &'static str,
    },
    /// The header (parameters, salt, nonce or wrapped key) does not match its checksum.
    #[error("vault header is corrupted (checksum mismatch); the file was altered or damaged")]
    HeaderCorrupted,
    /// The password-derived key does not unwrap the data key.
    #[error("wrong password")]
    WrongPassword,
    /// The encrypted payload fails authentication.
    #[error("vault payload is corrupted or was altered (authentication failed)")]
    PayloadCorrupted,
    /// The decrypted payload does not parse (a bug or a foreign writer).
    #[error("vault payload is malformed: {0}")]
    PayloadMalformed(&'static str),
    /// A password that is too short.
    #[error("password too short: at least {min} characters are required")]
    PasswordTooShort {
        /// Minimum length in characters.
        min: usize,
    },
    /// An entry the caller needs is not in the vault.
    #[error("the vault holds no entry named {0:?}")]
    MissingEntry(String),
    /// An entry name or count outside the format's limits.
    #[error("invalid vault entry: {0}")]
    InvalidEntry(String),
    /// The operating system's random source failed.
    #[error("the system random source failed")]
    Random,
    /// Argon2 or AES-GCM refused an input (should not happen with validated parameters).
    #[error("cryptographic primitive failed: {0}")]
    Crypto(&'static str),
    /// Reading or writing the file failed; the existing vault was left unchanged.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Which file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Refusing to overwrite an existing vault.
    #[error("a vault already exists at {0}; refusing to overwrite it")]
    AlreadyExists(String),
}

impl VaultError {
    /// Wrap an I/O error with what was being done to which file.
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        VaultError::Io {
            action,
            path: path.display().to_string(),
            source,
        }
    }
}
