//! Publisher public keys: the compiled-in release key and keys read from minisign files.

use sha2::{Digest, Sha256};

use crate::error::SigningError;

/// The release publisher's public key (minisign format), pinned at build time.
pub const RELEASE_PUBLIC_KEY: &str = include_str!("../../../models/publisher.pub");

/// Release keys replaced by a rotation (docs/signing.md, rotation log), each still trusted
/// for the releases it signed and nothing newer: per model id, the highest version.
const RETIRED_RELEASE_KEYS: &[(&str, &[(&str, u64)])] = &[
    (
        include_str!("../../../models/publisher-retired-860389025CCBA8E1.pub"),
        &[("cvd-lr", 1)],
    ),
    (
        include_str!("../../../models/publisher-retired-955762AD02AEB7D9.pub"),
        &[("cvd-lr", 2)],
    ),
    (
        include_str!("../../../models/publisher-retired-3130161418ED5071.pub"),
        &[("prevent-cvd-10y", 1), ("prevent-ascvd-10y", 1)],
    ),
    (
        include_str!("../../../models/publisher-retired-B2F8498C3BA273E3.pub"),
        &[
            ("prevent-cvd-10y", 2),
            ("prevent-ascvd-10y", 2),
            ("pce-ascvd-10y", 1),
        ],
    ),
];

/// What a retired release key may still sign: per model id it signed, the highest version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyScope {
    /// `(model id, highest version)`, in the order the rotation log lists them.
    pub releases: Vec<(String, u64)>,
}

impl KeyScope {
    /// Whether the key may sign `version` of `model_id`.
    pub fn allows(&self, model_id: &str, version: u64) -> bool {
        self.releases
            .iter()
            .any(|(id, max)| id == model_id && version <= *max)
    }
}

impl std::fmt::Display for KeyScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .releases
            .iter()
            .map(|(id, max)| format!("{id} up to version {max}"))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// A trusted publisher key.
#[derive(Clone)]
pub struct PublisherKey {
    pub(crate) key: minisign::PublicKey,
    /// Where it comes from (`release (compiled in)` or the trust entry's label).
    pub origin: String,
    /// For a retired release key, what it may still sign; `None`: whatever its holder is
    /// trusted for.
    pub scope: Option<KeyScope>,
}

impl std::fmt::Debug for PublisherKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublisherKey")
            .field("key_id", &self.key_id())
            .field("origin", &self.origin)
            .field("scope", &self.scope)
            .finish()
    }
}

/// minisign's key id display: the 8-byte key number as a little-endian u64 in hex.
pub(crate) fn key_id_hex(keynum: &[u8]) -> String {
    let mut bytes = [0u8; 8];
    let n = keynum.len().min(8);
    bytes[..n].copy_from_slice(&keynum[..n]);
    format!("{:016X}", u64::from_le_bytes(bytes))
}

impl PublisherKey {
    /// Parse a minisign public key file's text (two lines) or a bare base64 key.
    pub fn parse(text: &str, origin: &str) -> Result<Self, SigningError> {
        let trimmed = text.trim();
        let key = if trimmed.lines().count() >= 2 {
            minisign::PublicKeyBox::from_string(trimmed).and_then(|b| b.into_public_key())
        } else {
            minisign::PublicKey::from_base64(trimmed)
        }
        .map_err(|e| SigningError::MalformedPublicKey(e.to_string()))?;
        Ok(PublisherKey {
            key,
            origin: origin.to_string(),
            scope: None,
        })
    }

    /// The compiled-in release key.
    pub fn release() -> Result<Self, SigningError> {
        Self::parse(RELEASE_PUBLIC_KEY, "release (compiled in)")
    }

    /// The compiled-in release key followed by the retired release keys, each limited to
    /// the releases it signed before its rotation.
    pub fn release_keys() -> Result<Vec<Self>, SigningError> {
        let mut keys = vec![Self::release()?];
        for (text, releases) in RETIRED_RELEASE_KEYS {
            let mut key = Self::parse(text, "retired release key (compiled in)")?;
            key.scope = Some(KeyScope {
                releases: releases
                    .iter()
                    .map(|(id, max)| ((*id).to_string(), *max))
                    .collect(),
            });
            keys.push(key);
        }
        Ok(keys)
    }

    /// minisign key id, as `minisign` prints it.
    pub fn key_id(&self) -> String {
        key_id_hex(self.key.keynum())
    }

    /// The base64 line of the key (what a trust entry stores).
    pub fn to_base64(&self) -> String {
        self.key.to_base64()
    }

    /// SHA-256 of the key's base64 form, truncated, for comparing out of band.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.to_base64().as_bytes());
        let hex: Vec<String> = digest[..16]
            .chunks(2)
            .map(|p| format!("{:02x}{:02x}", p[0], p[1]))
            .collect();
        format!("SHA256:{}", hex.join(":"))
    }
}
