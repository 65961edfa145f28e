//! Uploaded server keys on disk: one file per key, named by its key id (the first 16 bytes
//! of the SHA-256 of its bytes, as on the wire), in a private directory. A key is kept only
//! after its size was bounded as it arrived, its hash matched, and tfhe's conformance check
//! accepted it for this build's parameters; it is written to a temporary file, synced and
//! renamed, so a crash leaves the whole key or none, and it survives restarts.

use std::io::Write;
use std::path::{Path, PathBuf};

use pulsecure_core::ports::fhe::FheError;
use pulsecure_fhe::{check_server_key, KeyId};
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

/// A key id as lowercase hex (file names).
pub fn key_id_hex(id: &KeyId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The first 8 hex digits of a key id (logs and errors).
pub fn key_id_prefix(id: &KeyId) -> String {
    key_id_hex(id)[..8].to_string()
}

/// The server keys an evaluator holds.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
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
        })
    }

    fn path_of(&self, id: &KeyId) -> PathBuf {
        self.dir.join(format!("{}.key", key_id_hex(id)))
    }

    /// Whether the key `id` is stored.
    pub fn has(&self, id: &KeyId) -> bool {
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
    pub fn read(&self, id: &KeyId) -> Result<Vec<u8>, KeyStoreError> {
        use std::io::Read;
        let file = std::fs::File::open(self.path_of(id))
            .map_err(|_| KeyStoreError::Unknown(key_id_prefix(id)))?;
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

    /// Delete key `id`; returns whether it was stored.
    pub fn delete(&self, id: &KeyId) -> Result<bool, KeyStoreError> {
        match std::fs::remove_file(self.path_of(id)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io("deleting a server key")(e)),
        }
    }

    /// The ids of every stored key.
    pub fn list(&self) -> Result<Vec<KeyId>, KeyStoreError> {
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

fn parse_hex_id(hex: &str) -> Option<KeyId> {
    if hex.len() != 32 {
        return None;
    }
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(id)
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
    pub fn finish(self, announced: Option<&KeyId>) -> Result<KeyId, KeyStoreError> {
        let digest = self.hasher.finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        if let Some(announced) = announced {
            if announced != &id {
                return Err(KeyStoreError::WrongId {
                    announced: key_id_prefix(announced),
                    found: key_id_prefix(&id),
                });
            }
        }
        check_server_key(&self.bytes).map_err(KeyStoreError::Invalid)?;
        if self.store.has(&id) {
            return Ok(id);
        }
        let mut tmp = tempfile::Builder::new()
            .prefix(".upload-")
            .tempfile_in(&self.store.dir)
            .map_err(io("creating a temporary key file"))?;
        tmp.write_all(&self.bytes)
            .map_err(io("writing a server key"))?;
        tmp.as_file()
            .sync_all()
            .map_err(io("syncing a server key"))?;
        tmp.persist(self.store.path_of(&id))
            .map_err(|e| io("storing a server key")(e.error))?;
        std::fs::File::open(&self.store.dir)
            .and_then(|d| d.sync_all())
            .map_err(io("syncing the key directory"))?;
        Ok(id)
    }
}
