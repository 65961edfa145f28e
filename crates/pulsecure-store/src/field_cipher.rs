//! AES-256-GCM sealing of row payloads under the vault's database key.

use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use aes_gcm::Aes256Gcm;
use hmac::{Hmac, Mac};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Label of the key that tags references.
pub(crate) const REF_TAG_LABEL: &[u8] = b"pulsecure reference lookup v1";

type HmacSha256 = Hmac<sha2_for_hmac::Sha256>;

/// A 256-bit HMAC-SHA-256 key derived from the field key. Zeroized on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct MacKey([u8; 32]);

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey(<redacted>)")
    }
}

impl MacKey {
    /// A fresh HMAC over this key, to be fed with the message.
    pub(crate) fn hmac(&self) -> HmacSha256 {
        <HmacSha256 as Mac>::new_from_slice(&self.0).expect("HMAC accepts keys of any length")
    }

    /// HMAC-SHA-256 of `parts`, each prefixed with its length (so no two lists of parts
    /// give the same input).
    pub(crate) fn tag(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.hmac();
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

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

    /// A key for another purpose, derived as HMAC-SHA-256(field key, `label`): the integrity
    /// records and the reference lookup tags each get their own key, and none of them can
    /// be used to open a sealed row.
    pub(crate) fn derive(&self, label: &[u8]) -> MacKey {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(label);
        MacKey(mac.finalize().into_bytes().into())
    }

    /// An AES-256-GCM key for another purpose, derived like [`FieldKey::derive`] (the
    /// integrity state is sealed under its own key, not the one that seals rows).
    pub(crate) fn derive_sealing(&self, label: &[u8]) -> FieldKey {
        FieldKey(self.derive(label).0)
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
