//! The models an evaluator serves: the embedded default and releases installed in its data
//! directory, each checked exactly as the clinician's program checks them — the release
//! signature and signed claim (`pulsecure-signing`) and the core's anti-rollback rule
//! (`ModelService`) against the evaluator's own record of accepted versions.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::ports::registry::{AcceptedModel, ModelRegistry};
use pulsecure_core::ports::store::StoreError;
use pulsecure_core::usecase::model_service::{InstallOutcome, ModelService, RollbackError};
use pulsecure_core::{Model, ReleasedModel};
use pulsecure_fhe::circuit::{static_pbs_count, PbsCount};
use pulsecure_fhe::equation_lwe::LinearMap;
use pulsecure_fhe::{equation_fingerprint, model_fingerprint};
use pulsecure_signing::{verify_model, PublisherKey, SigningError};
use thiserror::Error;

/// Largest model document or signature read from disk.
const MAX_MODEL_FILE_BYTES: u64 = 4 << 20;

/// Why a model could not be served.
#[derive(Debug, Error)]
pub enum ModelShelfError {
    /// The embedded model failed its own check (a damaged binary).
    #[error("{0}")]
    Embedded(String),
    /// A release's signature, claim or content was refused.
    #[error("{file}: {source}")]
    Signature {
        /// The model file.
        file: PathBuf,
        /// Why.
        #[source]
        source: SigningError,
    },
    /// Older than (or different from) a release this evaluator accepted before.
    #[error("{file}: {source}")]
    Rollback {
        /// The model file.
        file: PathBuf,
        /// Why.
        #[source]
        source: RollbackError,
    },
    /// The encrypted engine cannot evaluate it.
    #[error("{id} v{version}: {reason}")]
    Unsupported {
        /// Model id.
        id: String,
        /// Version.
        version: u64,
        /// Why.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// A verified model of either schema, shared with the evaluators built for it.
#[derive(Clone, Debug)]
pub enum ShelvedModel {
    /// Schema 1 (`cvd-lr`).
    Logistic(Arc<Model>),
    /// Schema 2 (a published equation).
    Equation(Arc<EquationModel>),
}

impl ShelvedModel {
    /// Model id.
    pub fn id(&self) -> &str {
        match self {
            ShelvedModel::Logistic(m) => m.id(),
            ShelvedModel::Equation(m) => m.id(),
        }
    }

    /// Release number.
    pub fn version(&self) -> u64 {
        match self {
            ShelvedModel::Logistic(m) => m.version(),
            ShelvedModel::Equation(m) => m.version(),
        }
    }

    /// SHA-256 of its canonical document (what requests name).
    pub fn fingerprint(&self) -> [u8; 32] {
        match self {
            ShelvedModel::Logistic(m) => model_fingerprint(m),
            ShelvedModel::Equation(m) => equation_fingerprint(m),
        }
    }
}

/// One model the evaluator serves.
#[derive(Debug)]
pub struct ServedModel {
    /// The verified model.
    pub model: ShelvedModel,
    /// SHA-256 of its canonical document (what requests name).
    pub fingerprint: [u8; 32],
    /// Bootstrappings and levels of one evaluation.
    pub cost: PbsCount,
}

impl ServedModel {
    fn new(model: ReleasedModel) -> Result<Self, ModelShelfError> {
        let (id, version) = (model.id().to_string(), model.version());
        let unsupported = |e: pulsecure_core::ports::fhe::FheError| ModelShelfError::Unsupported {
            id: id.clone(),
            version,
            reason: e.to_string(),
        };
        let (model, cost) = match model {
            ReleasedModel::Logistic(m) => {
                let cost = static_pbs_count(&m).map_err(unsupported)?;
                (ShelvedModel::Logistic(Arc::new(m)), cost)
            }
            ReleasedModel::Equation(m) => {
                // A linear map: no bootstrapping; compiling it proves exact decryption.
                LinearMap::compile(&m).map_err(unsupported)?;
                (ShelvedModel::Equation(Arc::new(m)), PbsCount::default())
            }
        };
        Ok(ServedModel {
            fingerprint: model.fingerprint(),
            model,
            cost,
        })
    }
}

/// The served models, looked up by fingerprint.
#[derive(Debug)]
pub struct ModelShelf {
    models: Vec<ServedModel>,
}

impl ModelShelf {
    /// The embedded model, the carried equation releases and, for each model id installed
    /// under `data_dir/models`, its highest verified release.
    pub fn load(data_dir: &Path) -> Result<Self, ModelShelfError> {
        let embedded =
            pulsecure_signing::embedded::verify_embedded().map_err(ModelShelfError::Embedded)?;
        let mut releases = vec![(PathBuf::from("<embedded model>"), embedded)];
        for verified in pulsecure_signing::embedded::verify_equation_releases()
            .map_err(ModelShelfError::Embedded)?
        {
            releases.push((PathBuf::from("<carried equation release>"), verified));
        }
        for (file, signature) in installed_releases(data_dir)? {
            let bytes = read_bounded(&file)?;
            let signature_text = String::from_utf8_lossy(&read_bounded(&signature)?).into_owned();
            let verified = verify(data_dir, &file, &bytes, &signature_text)?;
            releases.push((file, verified));
        }
        let registry = AcceptedRegistry::open(data_dir)?;
        let mut models: Vec<ServedModel> = Vec::new();
        for (file, verified) in releases {
            let candidate = AcceptedModel {
                model_id: verified.claim.model_id.clone(),
                version: verified.claim.version,
                sha256: verified.claim.sha256.clone(),
            };
            let service = ModelService::new(&registry);
            // Accepting records the version, so the floor is the highest release ever served;
            // an older release (the embedded one after an upgrade) is not served.
            match service.install(&candidate) {
                Ok(_) => {}
                Err(RollbackError::Older { .. }) => continue,
                Err(source) => return Err(ModelShelfError::Rollback { file, source }),
            }
            models.retain(|m| m.model.id() != verified.model.id());
            models.push(ServedModel::new(verified.model)?);
        }
        Ok(ModelShelf { models })
    }

    /// Trust another publisher's key (a minisign public key file) for models installed on
    /// this evaluator; returns its key id.
    pub fn trust_key(data_dir: &Path, key_file: &Path) -> Result<String, ModelShelfError> {
        let text = String::from_utf8_lossy(&read_bounded(key_file)?).into_owned();
        let key = PublisherKey::parse(&text, "operator").map_err(|source| {
            ModelShelfError::Signature {
                file: key_file.to_path_buf(),
                source,
            }
        })?;
        let root = data_dir.join(TRUSTED_KEYS_DIR);
        std::fs::create_dir_all(&root).map_err(io("creating", &root))?;
        write_atomic(&root.join(format!("{}.pub", key.key_id())), text.as_bytes())?;
        Ok(key.key_id())
    }

    /// The model whose fingerprint is `fingerprint`.
    pub fn find(&self, fingerprint: &[u8]) -> Option<&ServedModel> {
        self.models
            .iter()
            .find(|m| m.fingerprint.as_slice() == fingerprint)
    }

    /// Every served model.
    pub fn models(&self) -> &[ServedModel] {
        &self.models
    }

    /// Verify a release and install it under `data_dir/models` (anti-rollback applies; the
    /// exact verified bytes are written, atomically). Takes effect at the next start.
    pub fn install(
        data_dir: &Path,
        model_file: &Path,
        signature_file: &Path,
    ) -> Result<(String, u64, InstallOutcome), ModelShelfError> {
        let bytes = read_bounded(model_file)?;
        let signature = String::from_utf8_lossy(&read_bounded(signature_file)?).into_owned();
        let verified = verify(data_dir, model_file, &bytes, &signature)?;
        let candidate = AcceptedModel {
            model_id: verified.claim.model_id.clone(),
            version: verified.claim.version,
            sha256: verified.claim.sha256.clone(),
        };
        let registry = AcceptedRegistry::open(data_dir)?;
        let outcome = ModelService::new(&registry)
            .check(&candidate)
            .map_err(|source| ModelShelfError::Rollback {
                file: model_file.to_path_buf(),
                source,
            })?;
        if outcome == InstallOutcome::Installed {
            let folder = data_dir
                .join("models")
                .join(format!("{}-v{}", candidate.model_id, candidate.version));
            std::fs::create_dir_all(&folder).map_err(io("creating", &folder))?;
            write_atomic(&folder.join("model.json"), &bytes)?;
            write_atomic(&folder.join("model.json.minisig"), signature.as_bytes())?;
            registry
                .record(&candidate)
                .map_err(|e| ModelShelfError::Rollback {
                    file: model_file.to_path_buf(),
                    source: RollbackError::Store(e),
                })?;
        }
        Ok((candidate.model_id, candidate.version, outcome))
    }
}

fn verify(
    data_dir: &Path,
    file: &Path,
    bytes: &[u8],
    signature: &str,
) -> Result<pulsecure_signing::VerifiedModel, ModelShelfError> {
    let signature_error = |source| ModelShelfError::Signature {
        file: file.to_path_buf(),
        source,
    };
    let mut trusted = PublisherKey::release_keys().map_err(signature_error)?;
    trusted.extend(trusted_keys(data_dir)?);
    verify_model(bytes, signature, &trusted).map_err(signature_error)
}

/// Publisher keys the operator added with `trust-key` (`data_dir/trusted-keys/*.pub`),
/// besides the compiled-in release key.
fn trusted_keys(data_dir: &Path) -> Result<Vec<PublisherKey>, ModelShelfError> {
    let root = data_dir.join(TRUSTED_KEYS_DIR);
    let entries = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("listing", &root)(e)),
    };
    let mut keys = Vec::new();
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.extension().is_some_and(|x| x == "pub") {
            let text = String::from_utf8_lossy(&read_bounded(&path)?).into_owned();
            let origin = path.display().to_string();
            let key = PublisherKey::parse(&text, &origin).map_err(|source| {
                ModelShelfError::Signature {
                    file: path.clone(),
                    source,
                }
            })?;
            keys.push(key);
        }
    }
    Ok(keys)
}

/// Where `trust-key` keeps publisher keys.
const TRUSTED_KEYS_DIR: &str = "trusted-keys";

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ModelShelfError {
    let path = path.to_path_buf();
    move |source| ModelShelfError::Io {
        action,
        path,
        source,
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, ModelShelfError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(io("reading", path))?;
    let mut bytes = Vec::new();
    file.take(MAX_MODEL_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io("reading", path))?;
    if bytes.len() as u64 > MAX_MODEL_FILE_BYTES {
        return Err(ModelShelfError::Io {
            action: "reading",
            path: path.to_path_buf(),
            source: std::io::Error::other(format!("larger than {MAX_MODEL_FILE_BYTES} bytes")),
        });
    }
    Ok(bytes)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ModelShelfError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io("writing", path))?;
    tmp.write_all(bytes).map_err(io("writing", path))?;
    tmp.as_file().sync_all().map_err(io("syncing", path))?;
    tmp.persist(path)
        .map_err(|e| io("renaming into", path)(e.error))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing", dir))
}

/// `(model.json, model.json.minisig)` of every release folder under `data_dir/models`,
/// in name order.
fn installed_releases(data_dir: &Path) -> Result<Vec<(PathBuf, PathBuf)>, ModelShelfError> {
    let root = data_dir.join("models");
    let entries = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("listing", &root)(e)),
    };
    let mut folders: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    Ok(folders
        .into_iter()
        .map(|f| (f.join("model.json"), f.join("model.json.minisig")))
        .collect())
}

/// The evaluator's anti-rollback record: `accepted-models.json` in its data directory,
/// rewritten atomically.
struct AcceptedRegistry {
    path: PathBuf,
    accepted: Mutex<Vec<(String, u64, String)>>,
}

impl AcceptedRegistry {
    fn open(data_dir: &Path) -> Result<Self, ModelShelfError> {
        let path = data_dir.join("accepted-models.json");
        let accepted = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ModelShelfError::Io {
                action: "reading",
                path: path.clone(),
                source: std::io::Error::other(e.to_string()),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io("reading", &path)(e)),
        };
        Ok(AcceptedRegistry {
            path,
            accepted: Mutex::new(accepted),
        })
    }
}

impl ModelRegistry for AcceptedRegistry {
    fn accepted(&self, model_id: &str) -> Result<Option<AcceptedModel>, StoreError> {
        let accepted = self
            .accepted
            .lock()
            .map_err(|_| StoreError::Backend("registry lock poisoned".into()))?;
        Ok(accepted
            .iter()
            .find(|(id, ..)| id == model_id)
            .map(|(id, version, sha256)| AcceptedModel {
                model_id: id.clone(),
                version: *version,
                sha256: sha256.clone(),
            }))
    }

    fn record(&self, model: &AcceptedModel) -> Result<(), StoreError> {
        let mut accepted = self
            .accepted
            .lock()
            .map_err(|_| StoreError::Backend("registry lock poisoned".into()))?;
        accepted.retain(|(id, ..)| id != &model.model_id);
        accepted.push((model.model_id.clone(), model.version, model.sha256.clone()));
        let json = serde_json::to_vec_pretty(&*accepted)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        write_atomic(&self.path, &json).map_err(|e| StoreError::Backend(e.to_string()))
    }
}
