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

    /// Fail unless `init` has run, or if the directory is not private to this user.
    pub fn require_initialized(&self) -> Result<()> {
        if !self.vault().exists() {
            return Err(AppError::NotInitialized {
                dir: self.root.clone(),
            });
        }
        self.check_private()
    }

    /// Refuse a directory that is a symbolic link, not owned by this user, or open to group
    /// or other users: its files (the vault, the database, the log) are private, and a
    /// directory others can write lets them swap those files. A missing one is fine (`init`
    /// creates it 0700).
    pub fn check_private(&self) -> Result<()> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let refuse = |reason: String| AppError::DataDirNotPrivate {
            dir: self.root.clone(),
            reason,
        };
        let meta = match std::fs::symlink_metadata(&self.root) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(AppError::io("reading", &self.root, e)),
        };
        if meta.file_type().is_symlink() {
            return Err(refuse("it is a symbolic link".into()));
        }
        if !meta.is_dir() {
            return Err(refuse("it is not a directory".into()));
        }
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(refuse(format!(
                "it is owned by uid {}, not by this user (uid {me})",
                meta.uid()
            )));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(refuse(format!(
                "its mode is {mode:o}; group and other users must have no access (chmod 700)"
            )));
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
/// its -wal/-shm files), never through a symbolic link. An existing file is left as it is.
pub fn create_private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
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
