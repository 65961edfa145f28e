//! The models this installation can read stored screenings with: the embedded release, the
//! earlier releases the binary still carries, and every installed release, each verified
//! before use and cached for the session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::embedded_model::DEFAULT_MODEL_SHA256;
use pulsecure_core::ports::catalog::{CatalogError, ModelCatalog};
use pulsecure_core::{Model, ReleasedModel};

use crate::data_dir::DataDir;
use crate::embedded::embedded_model;
use crate::trust::Trust;

/// Verified models by id and version.
pub struct Catalog {
    dir: DataDir,
    trust: Trust,
    cache: Mutex<HashMap<(String, u64), Entry>>,
}

/// A verified release and the SHA-256 of the bytes that were verified.
#[derive(Clone)]
struct Entry {
    model: Loaded,
    sha256: String,
}

/// A verified release of either schema, shared.
#[derive(Clone)]
enum Loaded {
    Logistic(Arc<Model>),
    Equation(Arc<EquationModel>),
}

impl From<ReleasedModel> for Loaded {
    fn from(model: ReleasedModel) -> Self {
        match model {
            ReleasedModel::Logistic(m) => Loaded::Logistic(Arc::new(m)),
            ReleasedModel::Equation(m) => Loaded::Equation(Arc::new(m)),
        }
    }
}

fn wrong_kind(id: &str, version: u64, expected: &str) -> CatalogError {
    CatalogError::Unusable {
        id: id.to_string(),
        version,
        reason: format!("not a {expected} model"),
    }
}

impl Catalog {
    /// A catalog over `dir`'s installed releases, verified with `trust`.
    pub fn new(dir: DataDir, trust: Trust) -> Self {
        Catalog {
            dir,
            trust,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The data directory whose releases this catalog reads.
    pub fn dir(&self) -> &DataDir {
        &self.dir
    }

    fn load_installed(&self, id: &str, version: u64) -> Result<Entry, CatalogError> {
        let folder = self.dir.installed_model(id, version);
        let unusable = |reason: String| CatalogError::Unusable {
            id: id.to_string(),
            version,
            reason,
        };
        let model_path = folder.join("model.json");
        if !model_path.exists() {
            return Err(CatalogError::Unknown {
                id: id.to_string(),
                version,
            });
        }
        let bytes = std::fs::read(&model_path).map_err(|e| unusable(e.to_string()))?;
        let signature = std::fs::read_to_string(folder.join("model.json.minisig"))
            .map_err(|e| unusable(format!("signature: {e}")))?;
        let verified = self
            .trust
            .verify(&bytes, &signature)
            .map_err(|e| unusable(e.to_string()))?;
        if !verified.claim.model_ref().is(id, version) {
            return Err(unusable("the signed claim names another release".into()));
        }
        Ok(Entry {
            model: verified.model.into(),
            sha256: verified.claim.sha256,
        })
    }

    /// A release an earlier binary embedded (and this one still carries), verified.
    fn load_earlier_embedded(&self, id: &str, version: u64) -> Result<Entry, CatalogError> {
        let carried = pulsecure_signing::embedded::EARLIER_RELEASES
            .iter()
            .chain(pulsecure_signing::embedded::EQUATION_RELEASES);
        for (json, signature) in carried {
            let Ok(verified) = self.trust.verify(json.as_bytes(), signature) else {
                continue;
            };
            if verified.claim.model_ref().is(id, version) {
                return Ok(Entry {
                    model: verified.model.into(),
                    sha256: verified.claim.sha256,
                });
            }
        }
        Err(CatalogError::Unknown {
            id: id.to_string(),
            version,
        })
    }

    fn entry(&self, id: &str, version: u64) -> Result<Entry, CatalogError> {
        let key = (id.to_string(), version);
        if let Some(e) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(e);
        }
        let embedded = embedded_model().map_err(|e| CatalogError::Unusable {
            id: id.to_string(),
            version,
            reason: e.to_string(),
        })?;
        let entry = if embedded.model_ref().is(id, version) {
            Entry {
                model: Loaded::Logistic(embedded),
                sha256: DEFAULT_MODEL_SHA256.to_string(),
            }
        } else {
            match self.load_installed(id, version) {
                Err(CatalogError::Unknown { .. }) => self.load_earlier_embedded(id, version)?,
                other => other?,
            }
        };
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, entry.clone());
        }
        Ok(entry)
    }

    /// SHA-256 of the release bytes that were verified for `id` `version`.
    pub fn sha256_of(&self, id: &str, version: u64) -> Result<String, CatalogError> {
        Ok(self.entry(id, version)?.sha256)
    }
}

impl ModelCatalog for Catalog {
    fn model(&self, id: &str, version: u64) -> Result<Arc<Model>, CatalogError> {
        match self.entry(id, version)?.model {
            Loaded::Logistic(m) => Ok(m),
            Loaded::Equation(_) => Err(wrong_kind(id, version, "schema-1 (cvd-lr)")),
        }
    }

    fn equation(&self, id: &str, version: u64) -> Result<Arc<EquationModel>, CatalogError> {
        match self.entry(id, version)?.model {
            Loaded::Equation(m) => Ok(m),
            Loaded::Logistic(_) => Err(wrong_kind(id, version, "schema-2 (equation)")),
        }
    }
}
