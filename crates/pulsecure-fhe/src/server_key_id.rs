//! The identity of one key set, in every form the system shows or stores it.
//!
//! One value, the first 16 bytes of SHA-256 of the serialized compressed server key, names
//! the key set everywhere: inside each request and response frame (binding them to it), in
//! the evaluator's key store (file names, ownership), in the job queue (which keeps the full
//! SHA-256), in the vault's record, and on screen. It is public: it identifies a public key.

use sha2::{Digest, Sha256};

/// Identifier of a key set: the first 16 bytes of SHA-256 of its serialized compressed
/// server key. The default, all zeros, names no key (a placeholder before one is known).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerKeyId([u8; 16]);

impl ServerKeyId {
    /// The id of serialized server-key bytes.
    pub fn of_key(server_key_bytes: &[u8]) -> Self {
        Self::from_sha256(&Sha256::digest(server_key_bytes).into())
    }

    /// The id whose key's full SHA-256 is `digest` (the job queue keys by the full hash).
    pub fn from_sha256(digest: &[u8; 32]) -> Self {
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        ServerKeyId(id)
    }

    /// The id in `bytes`, if they are 16 (a frame's or a message's field).
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 16]>::try_from(bytes).ok().map(ServerKeyId)
    }

    /// The id whose hex form (full SHA-256 or the id alone, lower or upper case) starts
    /// `hex` — the vault records the key's SHA-256 in hex.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.get(..32)?;
        let mut id = [0u8; 16];
        for (byte, pair) in id.iter_mut().zip(hex.as_bytes().chunks(2)) {
            *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
        }
        Some(ServerKeyId(id))
    }

    /// The 16 bytes, as frames carry them.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// All 32 lowercase hex digits (the evaluator's key file names).
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The first 8 hex digits: enough to tell keys apart in logs and errors.
    pub fn short(&self) -> String {
        self.hex()[..8].to_string()
    }
}

/// `SHA256:` and the id in groups of four hex digits: the same text as the vault's
/// fingerprint of the server key file (whose first 16 digest bytes the id is), as
/// `pulsecure keys show` prints it.
impl std::fmt::Display for ServerKeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let groups: Vec<String> = self
            .0
            .chunks(2)
            .map(|pair| format!("{:02x}{:02x}", pair[0], pair[1]))
            .collect();
        write!(f, "SHA256:{}", groups.join(":"))
    }
}

impl std::fmt::Debug for ServerKeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServerKeyId({})", self.short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_names_the_same_key() {
        let key = b"a serialized server key";
        let id = ServerKeyId::of_key(key);
        let digest: [u8; 32] = Sha256::digest(key).into();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(ServerKeyId::from_sha256(&digest), id);
        assert_eq!(ServerKeyId::from_hex(&hex), Some(id));
        assert_eq!(ServerKeyId::from_hex(&hex.to_uppercase()), Some(id));
        assert_eq!(ServerKeyId::from_slice(&digest[..16]), Some(id));
        assert_eq!(id.hex(), hex[..32]);
        assert_eq!(id.short(), hex[..8]);
        let shown = id.to_string();
        assert_eq!(shown.len(), "SHA256:".len() + 32 + 7);
        assert_eq!(shown.replace(':', "")[6..], hex[..32]);
        assert_eq!(format!("{id:?}"), format!("ServerKeyId({})", &hex[..8]));
    }

    #[test]
    fn malformed_forms_are_none() {
        assert_eq!(ServerKeyId::from_slice(&[0u8; 15]), None);
        assert_eq!(ServerKeyId::from_slice(&[0u8; 17]), None);
        assert_eq!(ServerKeyId::from_hex("abc"), None);
        assert_eq!(ServerKeyId::from_hex(&"zz".repeat(16)), None);
        assert_eq!(ServerKeyId::from_hex(&format!("{}é", "0".repeat(31))), None);
    }
}
