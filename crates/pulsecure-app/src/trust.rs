//! Which publisher keys this workstation accepts model releases from, and for which model
//! ids: a leaf the catalog, the records and model installation all read.

use pulsecure_signing::{PublisherKey, VerifiedModel};
use pulsecure_store::Database;

use crate::error::{AppError, Result};
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
