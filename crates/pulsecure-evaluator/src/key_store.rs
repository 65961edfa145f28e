//! Uploaded server keys on disk: one file per key, named by its key id (the first 16 bytes
//! of the SHA-256 of its bytes, as on the wire), in a private directory. A key is kept only
//! after its size was bounded as it arrived, its hash matched, and tfhe's conformance check
//! accepted it for this build's parameters; it is written to a temporary file, synced and
//! renamed, so a crash leaves the whole key or none, and it survives restarts.
//!
//! Each key records who uploaded it (`ID.owners`, one identity per line, written the same
//! way): a key serves, and can be deleted by, its owners (and the operators the service
//! names). Uploading needs room in the owner's quota of keys and in the store's byte cap.

use std::io::Write;
use std::path::{Path, PathBuf};

use pulsecure_core::ports::fhe::FheError;
use pulsecure_fhe::{check_server_key, ServerKeyId};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Largest server key accepted, in bytes (today's compressed key is about 60 MB).
pub const MAX_KEY_BYTES: u64 = 128 << 20;

/// Why a key operation failed. Messages name sizes and a key-id prefix, never key bytes.
#[derive(Debug, Error)]
pub enum KeyStoreError {
    /// The upload grew past the limit; nothing was kept.
    #[error("server key upload exceeds {limit} bytes; nothing was kept")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The bytes are not a server key of this build's parameters.
    #[error("not a server key for this evaluator's parameters: {0}")]
    Invalid(#[source] FheError),
    /// The client announced another key id than the bytes hash to.
    #[error("the uploaded bytes hash to key {found}, not the announced {announced}")]
    WrongId {
        /// Prefix of the announced id.
        announced: String,
        /// Prefix of the id the bytes hash to.
        found: String,
    },
    /// No key with this id is stored.
    #[error("no server key {0} is stored")]
    Unknown(String),
    /// The uploader's quota of keys, or the store's byte cap, is reached; nothing was kept.
    #[error("{0}; nothing was kept")]
    Quota(String),
    /// The file system failed; the store is unchanged.
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

fn io(action: &'static str) -> impl FnOnce(std::io::Error) -> KeyStoreError {
    move |source| KeyStoreError::Io { action, source }
}

/// How many keys an identity may own, and how many bytes all keys together may take.
#[derive(Debug, Clone, Copy)]
pub struct KeyQuota {
    /// Keys one identity may own.
    pub per_identity: usize,
    /// Bytes of all stored keys together.
    pub total_bytes: u64,
}

impl Default for KeyQuota {
    fn default() -> Self {
        KeyQuota {
            per_identity: 4,
            total_bytes: 4 << 30,
        }
    }
}

/// The server keys an evaluator holds.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
    /// Serialises changes of owner files (uploads and deletions race otherwise).
    owners_lock: std::sync::Arc<std::sync::Mutex<()>>,
}

impl KeyStore {
    /// Open (creating, mode 0700) the key directory `dir`.
    pub fn open(dir: &Path) -> Result<Self, KeyStoreError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io("creating the key directory"))?;
        Ok(KeyStore {
            dir: dir.to_path_buf(),
            owners_lock: Default::default(),
        })
    }

    fn path_of(&self, id: &ServerKeyId) -> PathBuf {
        self.dir.join(format!("{}.key", id.hex()))
    }

    fn owners_path(&self, id: &ServerKeyId) -> PathBuf {
        self.dir.join(format!("{}.owners", id.hex()))
    }

    fn lock_owners(&self) -> std::sync::MutexGuard<'_, ()> {
        self.owners_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The identities owning key `id` (none for a key stored before owners were recorded:
    /// only an operator reaches it until its owner uploads it again).
    pub fn owners(&self, id: &ServerKeyId) -> Vec<String> {
        std::fs::read_to_string(self.owners_path(id))
            .map(|text| {
                text.lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether key `id` is stored and owned by `owner`.
    pub fn is_owned_by(&self, id: &ServerKeyId, owner: &str) -> bool {
        self.has(id) && self.owners(id).iter().any(|o| o == owner)
    }

    /// How many stored keys `owner` owns.
    pub fn owned_count(&self, owner: &str) -> Result<usize, KeyStoreError> {
        Ok(self
            .list()?
            .iter()
            .filter(|id| self.owners(id).iter().any(|o| o == owner))
            .count())
    }

    /// Bytes of all stored keys.
    pub fn total_bytes(&self) -> Result<u64, KeyStoreError> {
        let mut total = 0;
        for id in self.list()? {
            total += std::fs::metadata(self.path_of(&id))
                .map(|m| m.len())
                .unwrap_or(0);
        }
        Ok(total)
    }

    fn write_owners(&self, id: &ServerKeyId, owners: &[String]) -> Result<(), KeyStoreError> {
        let mut tmp = tempfile::Builder::new()
            .prefix(".owners-")
            .tempfile_in(&self.dir)
            .map_err(io("creating a temporary owners file"))?;
        for owner in owners {
            writeln!(tmp, "{owner}").map_err(io("writing a key's owners"))?;
        }
        tmp.as_file()
            .sync_all()
            .map_err(io("syncing a key's owners"))?;
        tmp.persist(self.owners_path(id))
            .map_err(|e| io("storing a key's owners")(e.error))?;
        Ok(())
    }

    /// `owner` gives up key `id`; the key is deleted when no owner is left. Returns whether
    /// `owner` owned it (a key of others is left untouched: to this caller it is not held).
    pub fn release(&self, id: &ServerKeyId, owner: &str) -> Result<bool, KeyStoreError> {
        let _guard = self.lock_owners();
        let mut owners = self.owners(id);
        let before = owners.len();
        owners.retain(|o| o != owner);
        if owners.len() == before || !self.has(id) {
            return Ok(false);
        }
        if owners.is_empty() {
            self.delete(id)?;
        } else {
            self.write_owners(id, &owners)?;
        }
        Ok(true)
    }

    /// Whether the key `id` is stored.
    pub fn has(&self, id: &ServerKeyId) -> bool {
        self.path_of(id).is_file()
    }

    /// Start receiving a key (chunks as they arrive).
    pub fn begin_upload(&self) -> KeyUpload<'_> {
        KeyUpload {
            store: self,
            bytes: Vec::new(),
            hasher: Sha256::new(),
        }
    }

    /// The bytes of key `id`.
    pub fn read(&self, id: &ServerKeyId) -> Result<Vec<u8>, KeyStoreError> {
        use std::io::Read;
        let file = std::fs::File::open(self.path_of(id))
            .map_err(|_| KeyStoreError::Unknown(id.short()))?;
        let mut bytes = Vec::new();
        file.take(MAX_KEY_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io("reading a server key"))?;
        if bytes.len() as u64 > MAX_KEY_BYTES {
            return Err(KeyStoreError::TooLarge {
                limit: MAX_KEY_BYTES,
            });
        }
        Ok(bytes)
    }

    /// Delete key `id` whoever owns it (operators); returns whether it was stored.
    pub fn delete(&self, id: &ServerKeyId) -> Result<bool, KeyStoreError> {
        let _ = std::fs::remove_file(self.owners_path(id));
        match std::fs::remove_file(self.path_of(id)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io("deleting a server key")(e)),
        }
    }

    /// The ids of every stored key.
    pub fn list(&self) -> Result<Vec<ServerKeyId>, KeyStoreError> {
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io("listing server keys"))? {
            let name = entry.map_err(io("listing server keys"))?.file_name();
            let Some(hex) = name.to_str().and_then(|n| n.strip_suffix(".key")) else {
                continue;
            };
            if let Some(id) = parse_hex_id(hex) {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(ids)
    }
}

/// The id a key file is named by: exactly its 32 lowercase hex digits.
fn parse_hex_id(hex: &str) -> Option<ServerKeyId> {
    if hex.len() != 32 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    ServerKeyId::from_hex(hex)
}

/// A key being received: bounded in size, hashed as it arrives.
pub struct KeyUpload<'a> {
    store: &'a KeyStore,
    bytes: Vec<u8>,
    hasher: Sha256,
}

impl std::fmt::Debug for KeyUpload<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyUpload")
            .field("received", &self.bytes.len())
            .finish()
    }
}

impl KeyUpload<'_> {
    /// Add the next chunk; refused (and the upload dropped) past [`MAX_KEY_BYTES`].
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), KeyStoreError> {
        if self.bytes.len() as u64 + chunk.len() as u64 > MAX_KEY_BYTES {
            self.bytes = Vec::new();
            return Err(KeyStoreError::TooLarge {
                limit: MAX_KEY_BYTES,
            });
        }
        self.hasher.update(chunk);
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Check the key (hash against `announced` if given, then tfhe's conformance check) and
    /// store it atomically; returns its id. An already stored key is kept as it is.
    pub fn finish(self, announced: Option<&ServerKeyId>) -> Result<ServerKeyId, KeyStoreError> {
        self.finish_for(announced, None)
    }

    /// [`finish`](Self::finish), recording `owner` (under `quota`) as an owner of the key.
    pub fn finish_for(
        self,
        announced: Option<&ServerKeyId>,
        owner: Option<(&str, &KeyQuota)>,
    ) -> Result<ServerKeyId, KeyStoreError> {
        let id = ServerKeyId::from_sha256(&self.hasher.finalize().into());
        if let Some(announced) = announced {
            if announced != &id {
                return Err(KeyStoreError::WrongId {
                    announced: announced.short(),
                    found: id.short(),
                });
            }
        }
        let store = self.store;
        if let Some((owner, quota)) = owner {
            if !store.is_owned_by(&id, owner) {
                store.check_quota(owner, quota, self.bytes.len() as u64, &id)?;
            }
        }
        check_server_key(&self.bytes).map_err(KeyStoreError::Invalid)?;
        let _guard = store.lock_owners();
        if !store.has(&id) {
            let mut tmp = tempfile::Builder::new()
                .prefix(".upload-")
                .tempfile_in(&store.dir)
                .map_err(io("creating a temporary key file"))?;
            tmp.write_all(&self.bytes)
                .map_err(io("writing a server key"))?;
            tmp.as_file()
                .sync_all()
                .map_err(io("syncing a server key"))?;
            tmp.persist(store.path_of(&id))
                .map_err(|e| io("storing a server key")(e.error))?;
        }
        if let Some((owner, _)) = owner {
            let mut owners = store.owners(&id);
            if !owners.iter().any(|o| o == owner) {
                owners.push(owner.to_string());
                store.write_owners(&id, &owners)?;
            }
        }
        std::fs::File::open(&store.dir)
            .and_then(|d| d.sync_all())
            .map_err(io("syncing the key directory"))?;
        Ok(id)
    }
}

impl KeyStore {
    /// Refuse a new key of `owner` beyond its quota of keys, or `bytes` more beyond the
    /// store's byte cap (a key already stored takes no new bytes).
    pub fn check_quota(
        &self,
        owner: &str,
        quota: &KeyQuota,
        bytes: u64,
        id: &ServerKeyId,
    ) -> Result<(), KeyStoreError> {
        let owned = self.owned_count(owner)?;
        if owned >= quota.per_identity {
            return Err(KeyStoreError::Quota(format!(
                "this identity already owns {owned} server keys, the most allowed (delete one first)"
            )));
        }
        if !self.has(id) && self.total_bytes()?.saturating_add(bytes) > quota.total_bytes {
            return Err(KeyStoreError::Quota(format!(
                "the evaluator's key store is full (cap {} MiB)",
                quota.total_bytes >> 20
            )));
        }
        Ok(())
    }
}
