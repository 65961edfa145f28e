//! The plaintext inside the vault: named secret entries.
//!
//! Encoding (before AES-256-GCM): `u16` entry count, then per entry a `u8` name length, the
//! ASCII name (`[a-z0-9-]`), a `u32` value length and the value bytes; big-endian, no
//! trailing bytes.

use secrecy::{ExposeSecret, SecretSlice};
use zeroize::Zeroizing;

use crate::error::VaultError;

/// Most entries a vault holds.
pub const MAX_ENTRIES: usize = 64;

/// Named secrets (key material). Values are zeroized on drop and never printed.
#[derive(Default)]
pub struct SecretEntries {
    entries: Vec<(String, SecretSlice<u8>)>,
}

impl std::fmt::Debug for SecretEntries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("SecretEntries")
            .field("names", &names)
            .field("values", &"<redacted>")
            .finish()
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl SecretEntries {
    /// No entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add or replace the entry `name`. The value is moved into a zeroizing box.
    pub fn insert(&mut self, name: &str, value: Vec<u8>) -> Result<(), VaultError> {
        if !valid_name(name) {
            return Err(VaultError::InvalidEntry(format!(
                "name {name:?} must be 1-64 characters of a-z, 0-9 and '-'"
            )));
        }
        let boxed: SecretSlice<u8> = value.into();
        if let Some(slot) = self.entries.iter_mut().find(|(n, _)| n == name) {
            slot.1 = boxed;
        } else {
            if self.entries.len() >= MAX_ENTRIES {
                return Err(VaultError::InvalidEntry(format!(
                    "at most {MAX_ENTRIES} entries"
                )));
            }
            self.entries.push((name.to_string(), boxed));
        }
        Ok(())
    }

    /// Remove the entry `name` (its value is zeroized); returns whether it was there.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(n, _)| n != name);
        self.entries.len() != before
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.expose_secret())
    }

    /// The value of `name`, or an error naming the missing entry.
    pub fn require(&self, name: &str) -> Result<&[u8], VaultError> {
        self.get(name)
            .ok_or_else(|| VaultError::MissingEntry(name.to_string()))
    }

    /// Entry names, in insertion order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    pub(crate) fn encode(&self) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let mut out = Zeroizing::new(Vec::new());
        let count = u16::try_from(self.entries.len())
            .map_err(|_| VaultError::InvalidEntry("too many entries".into()))?;
        out.extend_from_slice(&count.to_be_bytes());
        for (name, value) in &self.entries {
            let value = value.expose_secret();
            let len = u32::try_from(value.len())
                .map_err(|_| VaultError::InvalidEntry(format!("entry {name:?} is too large")))?;
            out.push(name.len() as u8);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(value);
        }
        Ok(out)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, VaultError> {
        let mut rest = bytes;
        let mut take = |n: usize| -> Result<&[u8], VaultError> {
            if rest.len() < n {
                return Err(VaultError::PayloadMalformed("entry list is truncated"));
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        let count = u16::from_be_bytes([take(1)?[0], take(1)?[0]]) as usize;
        if count > MAX_ENTRIES {
            return Err(VaultError::PayloadMalformed("too many entries"));
        }
        let mut entries = SecretEntries::new();
        for _ in 0..count {
            let name_len = take(1)?[0] as usize;
            let name = std::str::from_utf8(take(name_len)?)
                .map_err(|_| VaultError::PayloadMalformed("entry name is not UTF-8"))?
                .to_string();
            if !valid_name(&name) {
                return Err(VaultError::PayloadMalformed("invalid entry name"));
            }
            let len_bytes = take(4)?;
            let len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]])
                as usize;
            let value = take(len)?.to_vec();
            if entries.get(&name).is_some() {
                return Err(VaultError::PayloadMalformed("duplicate entry name"));
            }
            entries.insert(&name, value)?;
        }
        if !rest.is_empty() {
            return Err(VaultError::PayloadMalformed(
                "trailing bytes after the entries",
            ));
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_names_and_values() {
        let mut e = SecretEntries::new();
        e.insert("tfhe-client-key", vec![1, 2, 3]).expect("insert");
        e.insert("database-key", vec![9; 32]).expect("insert");
        let bytes = e.encode().expect("encode");
        let back = SecretEntries::decode(&bytes).expect("decode");
        assert_eq!(back.get("tfhe-client-key"), Some(&[1u8, 2, 3][..]));
        assert_eq!(back.get("database-key"), Some(&[9u8; 32][..]));
        assert_eq!(back.names().count(), 2);
    }

    #[test]
    fn every_truncation_is_refused() {
        let mut e = SecretEntries::new();
        e.insert("a", vec![7; 5]).expect("insert");
        let bytes = e.encode().expect("encode");
        for cut in 0..bytes.len() {
            assert!(
                SecretEntries::decode(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn bad_names_are_refused() {
        let mut e = SecretEntries::new();
        assert!(e.insert("Upper", vec![]).is_err());
        assert!(e.insert("", vec![]).is_err());
    }

    #[test]
    fn debug_shows_names_only() {
        let mut e = SecretEntries::new();
        e.insert("k", vec![0xAB; 4]).expect("insert");
        let shown = format!("{e:?}");
        assert!(shown.contains("redacted") && !shown.contains("171") && !shown.contains("ab"));
    }
}
