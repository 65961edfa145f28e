//! Model releases on a workstation: installing a signed release and trusting another
//! publisher key — each audited (which release is active: `active_model`; which keys are
//! trusted: `trust`).

use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::ports::registry::{AcceptedModel, ModelRegistry};
use pulsecure_core::usecase::model_service::{InstallOutcome, ModelService};
use pulsecure_signing::{PublisherKey, VerifiedModel};
use pulsecure_store::Database;
use pulsecure_vault::write_atomic;

use crate::data_dir::create_dir_private;
use crate::error::{AppError, Result};
use crate::records::Records;
use crate::trust::Trust;

/// What `install` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallReport {
    /// Model id.
    pub model_id: String,
    /// Version.
    pub version: u64,
    /// Key id of the signer.
    pub signer: String,
    /// Newly installed (and active), or already installed.
    pub outcome: InstallOutcome,
}

/// Verify `bytes` + `signature`, check anti-rollback, write exactly the verified bytes into
/// the data directory and record the release; refusals are audited.
pub fn install(
    records: &Records,
    bytes: &[u8],
    signature: &str,
    label: &str,
) -> Result<InstallReport> {
    let (dir, db) = (records.dir(), records.database());
    let refuse = |what: String, err: AppError| -> Result<InstallReport> {
        db.log_event(AuditEvent::ModelRefused, &what)?;
        Err(err)
    };
    let verified: VerifiedModel = match Trust::load(db)?.verify(bytes, signature) {
        Ok(v) => v,
        Err(e) => return refuse(format!("{label}: {e}"), e),
    };
    let candidate = AcceptedModel {
        model_id: verified.claim.model_id.clone(),
        version: verified.claim.version,
        sha256: verified.claim.sha256.clone(),
    };
    let service = ModelService::new(db);
    let outcome = match service.check(&candidate) {
        Ok(o) => o,
        Err(e) => {
            return refuse(
                format!("{} v{}: {e}", candidate.model_id, candidate.version),
                e.into(),
            )
        }
    };
    if outcome == InstallOutcome::Installed {
        // Files first (atomically), then the record: a crash in between leaves an
        // unreferenced copy, never a record without its files. The bytes written are the
        // ones verified above, not a second read of the source.
        let folder = dir.installed_model(&candidate.model_id, candidate.version);
        create_dir_private(&folder)?;
        write_atomic(&folder.join("model.json"), bytes)?;
        write_atomic(&folder.join("model.json.minisig"), signature.as_bytes())?;
        ModelRegistry::record(db, &candidate)?;
        records.record_floor()?;
        db.log_event(
            AuditEvent::ModelInstalled,
            &format!(
                "{} v{} signed by {}",
                candidate.model_id, candidate.version, verified.key_id
            ),
        )?;
        tracing::info!(
            model_id = candidate.model_id.as_str(),
            model_version = candidate.version,
            signer = verified.key_id.as_str(),
            "model installed"
        );
    }
    Ok(InstallReport {
        model_id: candidate.model_id,
        version: candidate.version,
        signer: verified.key_id,
        outcome,
    })
}

/// Trust another publisher key to publish `model_id` (audited). Returns whether it was
/// newly added.
pub fn trust_key(db: &Database, key: &PublisherKey, model_id: &str, label: &str) -> Result<bool> {
    let added = db.add_trusted_key(&key.key_id(), model_id, &key.to_base64(), label)?;
    if added {
        db.log_event(
            AuditEvent::TrustedKeyAdded,
            &format!(
                "key id {} ({}) for model {model_id} label {label:?}",
                key.key_id(),
                key.fingerprint()
            ),
        )?;
    }
    Ok(added)
}
