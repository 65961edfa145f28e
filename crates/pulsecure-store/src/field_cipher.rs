//! AES-256-GCM sealing of row payloads under the vault's database key.

use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use aes_gcm::Aes256Gcm;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The 256-bit database field key (kept in the vault). Zeroized on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct FieldKey([u8; 32]);

impl std::fmt::Debug for FieldKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FieldKey(<redacted>)")
    }
}

impl FieldKey {
    /// Wrap 32 key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        FieldKey(bytes)
    }

    fn cipher(&self) -> Option<Aes256Gcm> {
        Aes256Gcm::new_from_slice(&self.0).ok()
    }

    /// Encrypt `plain` bound to `aad`; returns (nonce, ciphertext with tag).
    pub(crate) fn seal(&self, plain: &[u8], aad: &[u8]) -> Option<([u8; 12], Vec<u8>)> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).ok()?;
        let sealed = self
            .cipher()?
            .encrypt(
                &Nonce::<Aes256Gcm>::from(nonce),
                Payload { msg: plain, aad },
            )
            .ok()?;
        Some((nonce, sealed))
    }

    /// Decrypt and authenticate; `None` if the key, nonce, AAD or bytes do not match.
    pub(crate) fn open(&self, nonce: &[u8], sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        self.cipher()?
            .decrypt(
                &Nonce::<Aes256Gcm>::from(nonce),
                Payload { msg: sealed, aad },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_aad_binding() {
        let key = FieldKey::from_bytes([7; 32]);
        let (nonce, sealed) = key.seal(b"values", b"row 1").expect("seal");
        assert_eq!(
            key.open(&nonce, &sealed, b"row 1").as_deref(),
            Some(&b"values"[..])
        );
        assert!(key.open(&nonce, &sealed, b"row 2").is_none());
        assert!(FieldKey::from_bytes([8; 32])
            .open(&nonce, &sealed, b"row 1")
            .is_none());
        assert_eq!(format!("{key:?}"), "FieldKey(<redacted>)");
    }
}
