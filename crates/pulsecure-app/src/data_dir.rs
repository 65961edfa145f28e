//! The files of a data directory, and creating them private (0700 directory, 0600 files).

use std::path::{Path, PathBuf};

use crate::error::{AppError, Result};

/// Files of a data directory.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Use `root` (not created until `init`).
    pub fn new(root: PathBuf) -> Self {
        DataDir { root }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The encrypted key vault.
    pub fn vault(&self) -> PathBuf {
        self.root.join("vault.psv")
    }

    /// The compressed server key (public).
    pub fn server_key(&self) -> PathBuf {
        self.root.join("server-key.bin")
    }

    /// The SQLite database.
    pub fn database(&self) -> PathBuf {
        self.root.join("pulsecure.db")
    }

    /// Where an installed model release lives.
    pub fn installed_model(&self, model_id: &str, version: u64) -> PathBuf {
        self.root
            .join("models")
            .join(model_id)
            .join(version.to_string())
    }

    /// Fail unless `init` has run.
    pub fn require_initialized(&self) -> Result<()> {
        if !self.vault().exists() {
            return Err(AppError::NotInitialized {
                dir: self.root.clone(),
            });
        }
        Ok(())
    }
}

/// Create a directory (and its parents) with mode 0700.
pub fn create_dir_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| AppError::io("creating", path, e))
}

/// Create an empty file with mode 0600 (SQLite then keeps that mode for the database and
/// its -wal/-shm files). An existing file is left as it is.
pub fn create_private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(AppError::io("creating", path, e)),
    }
}

/// Read a whole file, naming it in the error.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| AppError::io("reading", path, e))
}
