//! The model a workstation screens with (anti-rollback: the highest accepted release of the
//! embedded model's id), verified through the catalog.

use std::sync::Arc;

use pulsecure_core::embedded_model::DEFAULT_MODEL_SHA256;
use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::ports::registry::{AcceptedModel, ModelRegistry};
use pulsecure_core::usecase::model_service::{InstallOutcome, ModelService};
use pulsecure_core::Model;
use pulsecure_store::Database;

use crate::catalog::Catalog;
use crate::embedded::embedded_model;
use crate::error::{AppError, Result};

/// The model to screen with: the highest accepted release of the embedded model's id,
/// verified through `catalog`; the embedded model when that is what was accepted (or when
/// the binary carries a newer one, which is then recorded as the anti-rollback baseline).
pub fn active_model(db: &Database, catalog: &Catalog) -> Result<Arc<Model>> {
    use pulsecure_core::ports::catalog::ModelCatalog;
    let embedded = embedded_model()?;
    match ModelRegistry::accepted(db, embedded.id())? {
        Some(a) if a.version > embedded.version() => {
            let model = catalog.model(&a.model_id, a.version)?;
            if catalog.sha256_of(&a.model_id, a.version)? != a.sha256 {
                return Err(AppError::Integrity(format!(
                    "installed model {} version {} differs from the release recorded at install",
                    a.model_id, a.version
                )));
            }
            Ok(model)
        }
        Some(a) if a.version == embedded.version() && a.sha256 != DEFAULT_MODEL_SHA256 => {
            Err(AppError::Integrity(format!(
                "model {} version {} recorded here differs from the embedded release",
                a.model_id, a.version
            )))
        }
        _ => {
            let candidate = AcceptedModel {
                model_id: embedded.id().to_string(),
                version: embedded.version(),
                sha256: DEFAULT_MODEL_SHA256.to_string(),
            };
            if ModelService::new(db).install(&candidate)? == InstallOutcome::Installed {
                db.log_event(
                    AuditEvent::ModelInstalled,
                    &format!("{} v{} (embedded)", embedded.id(), embedded.version()),
                )?;
            }
            Ok(embedded)
        }
    }
}
