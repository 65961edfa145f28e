//! Model releases on a workstation: which one is active (anti-rollback), installing a
//! signed release, and trusting another publisher key — each audited.

use std::sync::Arc;

use pulsecure_core::app::model_service::{InstallOutcome, ModelService};
use pulsecure_core::embedded_model::DEFAULT_MODEL_SHA256;
use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::ports::registry::{AcceptedModel, ModelRegistry};
use pulsecure_core::Model;
use pulsecure_signing::{PublisherKey, VerifiedModel};
use pulsecure_store::Database;
use pulsecure_vault::write_atomic;

use crate::catalog::Catalog;
use crate::data_dir::create_dir_private;
use crate::embedded::embedded_model;
use crate::error::{AppError, Result};
use crate::records::Records;
use crate::verification::verify_release;

/// The publisher keys this workstation accepts releases from: the pinned release key for
/// every model, and each key trusted in the database for the model ids it was trusted for.
#[derive(Clone)]
pub struct Trust {
    keys: Vec<PublisherKey>,
    release_key_ids: Vec<String>,
    scopes: Vec<(String, String)>,
}

impl Trust {
    /// The release key plus the database's trust entries.
    pub fn load(db: &Database) -> Result<Self> {
        // The current release key and the retired ones (each limited by `verify_model` to
        // the releases it signed before its rotation).
        let mut keys = PublisherKey::release_keys()?;
        let release_key_ids = keys.iter().map(PublisherKey::key_id).collect();
        let mut scopes = Vec::new();
        for record in db.trusted_keys()? {
            if !keys.iter().any(|k| k.key_id() == record.key_id) {
                keys.push(PublisherKey::parse(
                    &record.public_key,
                    &format!("trusted: {}", record.label),
                )?);
            }
            scopes.push((record.key_id, record.model_id));
        }
        Ok(Trust {
            keys,
            release_key_ids,
            scopes,
        })
    }

    /// Verify a release and check that its signer may publish its model id.
    pub fn verify(&self, bytes: &[u8], signature: &str) -> Result<VerifiedModel> {
        let verified = verify_release(bytes, signature, &self.keys)?;
        let model_id = &verified.claim.model_id;
        let allowed = self.release_key_ids.contains(&verified.key_id)
            || self
                .scopes
                .iter()
                .any(|(k, m)| *k == verified.key_id && m == model_id);
        if !allowed {
            return Err(AppError::KeyNotTrustedForModel {
                key_id: verified.key_id,
                model_id: model_id.clone(),
            });
        }
        Ok(verified)
    }
}

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
