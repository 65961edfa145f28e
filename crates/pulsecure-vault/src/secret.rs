//! Secret-bearing types: zeroized on drop, never printable.

use zeroize::{Zeroize, ZeroizeOnDrop};

/// A password as typed by the user. `secrecy` zeroizes it on drop and keeps it out of
/// `Debug` output; reading it needs an explicit `expose_secret()`.
pub type Password = secrecy::SecretString;

/// Shortest password `create` and `change_password` accept, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// A 256-bit symmetric key (the vault's DEK, a password-derived wrapping key, or the
/// database field key handed to the store).
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct DataKey([u8; 32]);

impl DataKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self, crate::VaultError> {
        let mut key = DataKey([0u8; 32]);
        getrandom::fill(&mut key.0).map_err(|_| crate::VaultError::Random)?;
        Ok(key)
    }

    /// Take ownership of 32 key bytes (the caller's copy should be zeroized).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        DataKey(bytes)
    }

    /// Rebuild a key from a vault entry; `None` unless it is exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let array: [u8; 32] = bytes.try_into().ok()?;
        Some(DataKey(array))
    }

    /// The raw key bytes, for handing to a cipher.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}
