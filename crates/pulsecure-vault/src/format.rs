//! The vault file layout (format version 1), one reason: bytes <-> header fields.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "PULSEVLT"
//!      8     2  format version (u16, big-endian) = 1
//!     10     4  Argon2id memory in KiB (u32 BE)
//!     14     4  Argon2id iterations (u32 BE)
//!     18     4  Argon2id parallelism (u32 BE)
//!     22    16  salt
//!     38    16  vault id (random, fixed for the life of the vault)
//!     54    12  wrap nonce
//!     66    48  wrapped DEK: AES-256-GCM(KEK, DEK), AAD = bytes 0..66
//!    114    32  SHA-256 of bytes 0..114 (detects damage, so it can be told from a
//!               wrong password; not a security control)
//!    146    12  payload nonce
//!    158     8  payload length n (u64 BE)
//!    166     n  payload: AES-256-GCM(DEK, entries), AAD = bytes 0..10 ++ vault id ++ n
//! ```

use sha2::{Digest, Sha256};

use crate::error::VaultError;
use crate::kdf_params::KdfParams;

/// First eight bytes of every vault file.
pub const MAGIC: [u8; 8] = *b"PULSEVLT";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;

pub(crate) const KEY_SECTION_LEN: usize = 114;
pub(crate) const WRAP_AAD_LEN: usize = 66;
pub(crate) const FIXED_LEN: usize = 166;
/// Largest payload accepted (key material is well under this).
pub(crate) const MAX_PAYLOAD: u64 = 64 * 1024 * 1024;

/// The password-dependent part of the header.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct KeySection {
    pub kdf: KdfParams,
    pub salt: [u8; 16],
    pub vault_id: [u8; 16],
    pub wrap_nonce: [u8; 12],
    pub wrapped_dek: [u8; 48],
}

/// A parsed vault file.
pub(crate) struct VaultFile {
    pub keys: KeySection,
    pub payload_nonce: [u8; 12],
    pub payload: Vec<u8>,
}

fn array<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(array(bytes, at))
}

impl KeySection {
    /// Bytes 0..66: what the wrapped DEK authenticates.
    pub fn wrap_aad(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(WRAP_AAD_LEN);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
        out.extend_from_slice(&self.kdf.memory_kib.to_be_bytes());
        out.extend_from_slice(&self.kdf.iterations.to_be_bytes());
        out.extend_from_slice(&self.kdf.parallelism.to_be_bytes());
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&self.vault_id);
        out.extend_from_slice(&self.wrap_nonce);
        out
    }

    /// Bytes 0..146: the key section followed by its checksum.
    fn encode(&self) -> Vec<u8> {
        let mut out = self.wrap_aad();
        out.extend_from_slice(&self.wrapped_dek);
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        out
    }
}

/// What the payload authenticates: magic, version, vault id and payload length.
pub(crate) fn payload_aad(vault_id: &[u8; 16], payload_len: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(34);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    out.extend_from_slice(vault_id);
    out.extend_from_slice(&payload_len.to_be_bytes());
    out
}

impl VaultFile {
    /// Serialize the whole file.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.keys.encode();
        out.extend_from_slice(&self.payload_nonce);
        out.extend_from_slice(&(self.payload.len() as u64).to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }

    /// Parse and check everything that can be checked without the password.
    pub fn parse(bytes: &[u8]) -> Result<Self, VaultError> {
        if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
            return Err(VaultError::BadMagic);
        }
        if bytes.len() < FIXED_LEN {
            return Err(VaultError::BadLength {
                expected: FIXED_LEN as u64,
                found: bytes.len() as u64,
            });
        }
        let version = u16::from_be_bytes(array(bytes, 8));
        if version != FORMAT_VERSION {
            return Err(VaultError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let checksum: [u8; 32] = array(bytes, KEY_SECTION_LEN);
        if Sha256::digest(&bytes[..KEY_SECTION_LEN])[..] != checksum[..] {
            return Err(VaultError::HeaderCorrupted);
        }
        let kdf = KdfParams {
            memory_kib: u32_at(bytes, 10),
            iterations: u32_at(bytes, 14),
            parallelism: u32_at(bytes, 18),
        };
        kdf.check()?;
        let payload_len = u64::from_be_bytes(array(bytes, 158));
        let expected = (FIXED_LEN as u64).saturating_add(payload_len);
        if payload_len > MAX_PAYLOAD || expected != bytes.len() as u64 {
            return Err(VaultError::BadLength {
                expected,
                found: bytes.len() as u64,
            });
        }
        Ok(VaultFile {
            keys: KeySection {
                kdf,
                salt: array(bytes, 22),
                vault_id: array(bytes, 38),
                wrap_nonce: array(bytes, 54),
                wrapped_dek: array(bytes, 66),
            },
            payload_nonce: array(bytes, 146),
            payload: bytes[FIXED_LEN..].to_vec(),
        })
    }
}
