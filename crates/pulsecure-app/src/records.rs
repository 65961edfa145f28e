//! An unlocked data directory without the screening keys loaded: the database, the model
//! catalog and the active model. History, export, statistics, model installation and the
//! database check need no more than this (and so do not read the 60 MB server key).

use std::sync::Arc;

use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::Model;
use pulsecure_store::Database;
use pulsecure_vault::Password;

use crate::active_model::active_model;
use crate::catalog::Catalog;
use crate::data_dir::DataDir;
use crate::error::Result;
use crate::trust::Trust;
use crate::unlocked::Unlocked;

/// The records of an unlocked data directory.
pub struct Records {
    pub(crate) dir: DataDir,
    pub(crate) unlocked: Unlocked,
    pub(crate) db: Database,
    pub(crate) catalog: Catalog,
    pub(crate) model: Arc<Model>,
}

impl Records {
    /// Unlock `dir`'s vault, open its database (audited) and resolve the active model.
    pub fn open(dir: &DataDir, password: &Password) -> Result<Self> {
        let unlocked = Unlocked::open(dir, password)?;
        Self::with_unlocked(dir, unlocked)
    }

    pub(crate) fn with_unlocked(dir: &DataDir, unlocked: Unlocked) -> Result<Self> {
        let db = unlocked.open_database(dir)?;
        db.log_event(AuditEvent::VaultUnlocked, "")?;
        let catalog = Catalog::new(dir.clone(), Trust::load(&db)?);
        let model = active_model(&db, &catalog)?;
        unlocked.record_floor(&db)?;
        Ok(Records {
            dir: dir.clone(),
            unlocked,
            db,
            catalog,
            model,
        })
    }

    /// Whether the database was missing and was created anew at this unlock, with the
    /// vault's record of the model baselines and the spent budget carried over (front ends
    /// warn: the screenings and the audit log of the lost database are gone).
    pub fn database_recreated(&self) -> bool {
        self.db.opened().recreated
    }

    /// Record the database's state in the vault after a change to the baselines or budget.
    pub(crate) fn record_floor(&self) -> Result<()> {
        self.unlocked.record_floor(&self.db)
    }

    /// Record the database's state in the vault now (after a screening in a long session;
    /// every command records it anyway when its records are dropped).
    pub fn record_state(&self) -> Result<()> {
        self.record_floor()
    }

    /// The active (verified) model.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The data directory.
    pub fn dir(&self) -> &DataDir {
        &self.dir
    }

    /// The database (for adapters' read-only views such as the audit log).
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The verified models stored screenings refer to.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }
}

/// Every writing command raises the database's generation; recording it when the command's
/// records go makes a copy of the file taken before the command an older copy the next
/// unlock refuses. (A crash before this leaves the vault's record one step behind, which
/// never refuses an honest database.)
impl Drop for Records {
    fn drop(&mut self) {
        if let Err(e) = self.unlocked.record_floor(&self.db) {
            tracing::warn!("could not record the database's state in the vault: {e}");
        }
    }
}
