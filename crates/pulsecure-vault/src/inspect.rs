//! What a vault file tells without its password: the checks an attacker-supplied file meets
//! first. Used to diagnose a vault and as the entry point of the vault fuzz target.

use crate::error::VaultError;
use crate::format::{VaultFile, FORMAT_VERSION};
use crate::kdf_params::KdfParams;

/// The public facts of a well-formed vault file (nothing secret: no salt, no key bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultInfo {
    /// Format version of the file.
    pub format_version: u16,
    /// Argon2id cost an unlock will pay (already checked to be within bounds).
    pub kdf: KdfParams,
    /// Length of the encrypted payload.
    pub payload_bytes: u64,
}

/// Parse and check everything that can be checked without the password: magic, version,
/// header checksum, KDF bounds, lengths. A file that passes still needs the password.
pub fn inspect(bytes: &[u8]) -> Result<VaultInfo, VaultError> {
    let file = VaultFile::parse(bytes)?;
    Ok(VaultInfo {
        format_version: FORMAT_VERSION,
        kdf: file.keys.kdf,
        payload_bytes: file.payload.len() as u64,
    })
}
