//! The application layer's one error type. Every adapter error stays typed inside it, so
//! the binary can map each cause to an exit code exhaustively. Messages name files, fields
//! and rows, never a patient value, reference, password or key byte; recovery hints ("run
//! `pulsecure init`") are the binary's business.

use std::path::PathBuf;

use pulsecure_batch_input::BatchError;
use pulsecure_core::ports::catalog::CatalogError;
use pulsecure_core::ports::fhe::FheError;
use pulsecure_core::ports::privacy::PrivacyError;
use pulsecure_core::ports::store::StoreError;
use pulsecure_core::usecase::inference::InferenceError;
use pulsecure_core::usecase::model_service::RollbackError;
use pulsecure_core::usecase::result_check::ResultRefused;
use pulsecure_core::{ModelError, PatientError, PatientRefError};
use pulsecure_signing::SigningError;
use pulsecure_vault::VaultError;
use thiserror::Error;

use crate::dates::DateError;

/// Why a use case failed.
#[derive(Debug, Error)]
pub enum AppError {
    /// The data directory holds no vault yet.
    #[error("no vault in {}", dir.display())]
    NotInitialized {
        /// The data directory.
        dir: PathBuf,
    },
    /// `init` on a directory that already holds a vault (keys cannot be recovered).
    #[error("{} already holds a vault; refusing to overwrite it", dir.display())]
    AlreadyInitialized {
        /// The data directory.
        dir: PathBuf,
    },
    /// The data directory is not private to this user (link, owner, mode).
    #[error("the data directory {} is not private: {reason}", dir.display())]
    DataDirNotPrivate {
        /// The data directory.
        dir: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `init` found a database without a vault: it would adopt someone else's data.
    #[error("{} already holds a database; refusing to adopt it into a new vault", path.display())]
    DatabaseExists {
        /// The database file.
        path: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("reading", "creating").
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The vault refused (wrong password, altered file, unsafe parameters...).
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The database refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A differential-privacy release was refused or failed.
    #[error(transparent)]
    Privacy(#[from] PrivacyError),
    /// Encryption, evaluation or decryption failed.
    #[error(transparent)]
    Fhe(#[from] FheError),
    /// A model signature or claim did not verify.
    #[error(transparent)]
    Signing(#[from] SigningError),
    /// A trusted key signed a release of a model id it was not trusted for.
    #[error("key {key_id} is not trusted to publish model {model_id}")]
    KeyNotTrustedForModel {
        /// The signer.
        key_id: String,
        /// The model id it signed.
        model_id: String,
    },
    /// Anti-rollback refused a model.
    #[error(transparent)]
    Rollback(#[from] RollbackError),
    /// A model file is not a valid model.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A stored screening's model is not available.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Patient values failed validation (names the field and its range).
    #[error(transparent)]
    Patient(#[from] PatientError),
    /// The patient reference is not a pseudonym.
    #[error("patient reference: {0}")]
    PatientRef(#[from] PatientRefError),
    /// A batch file cannot be read as a whole (its header, its shape).
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// A FHIR input cannot be read as a whole (not a Bundle, no Patient file, a temporary
    /// partition file failed).
    #[error(transparent)]
    Fhir(#[from] pulsecure_fhir::FhirError),
    /// The model reads an input the FHIR mapping table does not fill.
    #[error(transparent)]
    FhirUnmapped(#[from] pulsecure_fhir::UnmappedFeature),
    /// A date filter is not a date.
    #[error(transparent)]
    Date(#[from] DateError),
    /// A file or record does not match what the vault or the database recorded.
    #[error("integrity check failed: {0}")]
    Integrity(String),
    /// `db check` found damaged rows or a failing SQLite integrity check.
    #[error("database check failed: {damaged_rows} damaged row(s), integrity: {integrity}")]
    DatabaseDamaged {
        /// Rows that fail to decrypt.
        damaged_rows: usize,
        /// SQLite's `integrity_check` lines.
        integrity: String,
    },
    /// The user cancelled a screening; nothing was stored.
    #[error("cancelled: the result was discarded and nothing was stored")]
    Cancelled,
    /// A decrypted result disagreed with the reference engine (or did not decrypt): refused,
    /// nothing stored, an audit entry written.
    #[error(transparent)]
    ResultRefused(#[from] ResultRefused),
    /// The configured evaluator cannot be reached or did not answer in time (reserved for
    /// the remote evaluator; the in-process one never returns it).
    #[error("the evaluator at {endpoint} is unreachable or timed out")]
    EvaluatorUnreachable {
        /// Where it was expected (no secret).
        endpoint: String,
    },
    /// The evaluator is reachable but does not hold this workstation's server key.
    #[error("the evaluator at {endpoint} does not hold this workstation's server key (key set {key_set})")]
    KeyNotRegistered {
        /// The evaluator's address.
        endpoint: String,
        /// Fingerprint of the key set.
        key_set: String,
    },
    /// The evaluator does not serve the active model.
    #[error("the evaluator at {endpoint} does not serve model {model_id} v{version} (fingerprint {fingerprint})")]
    ModelNotServed {
        /// The evaluator's address.
        endpoint: String,
        /// The active model's id.
        model_id: String,
        /// Its version.
        version: u64,
        /// Its fingerprint (hex SHA-256 of the canonical document).
        fingerprint: String,
    },
    /// Whoever serves the evaluator's Unix socket is not who the workstation expects: nothing
    /// was sent to it.
    #[error("{reason}")]
    EvaluatorUntrusted {
        /// The evaluator's address.
        endpoint: String,
        /// What did not match (the uids and paths involved).
        reason: String,
    },
    /// The evaluator refused a request (TLS set-up, a status other than "unreachable").
    #[error("the evaluator at {endpoint}: {reason}")]
    EvaluatorRefused {
        /// The evaluator's address.
        endpoint: String,
        /// Its answer.
        reason: String,
    },
    /// Results could not be written (the output file or stdout).
    #[error("writing the results: {0}")]
    Output(std::io::Error),
    /// The job queue failed or is unreachable (after reconnecting for a while).
    #[error(transparent)]
    Queue(#[from] pulsecure_queue::QueueError),
    /// The database key cannot be rotated while jobs wait in the queue.
    #[error("{0} screening(s) are waiting in the job queue, sealed under the current database key: collect them first (pulsecure jobs collect)")]
    JobsPending(u64),
    /// `--model` names no published-equation model carried or installed here.
    #[error("no published-equation model {0} on this installation (prevent, prevent-cvd-10y, prevent-ascvd-10y, pce-ascvd-10y)")]
    UnknownModel(String),
    /// The system random source failed.
    #[error("the system random source failed")]
    Random,
}

impl From<InferenceError> for AppError {
    fn from(e: InferenceError) -> Self {
        match e {
            InferenceError::Fhe(e) => AppError::Fhe(e),
            InferenceError::Store(e) => AppError::Store(e),
            InferenceError::Cancelled => AppError::Cancelled,
            InferenceError::ResultRefused(r) => AppError::ResultRefused(r),
        }
    }
}

impl AppError {
    /// An I/O error on `path`.
    pub fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        AppError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Results of this crate.
pub type Result<T, E = AppError> = std::result::Result<T, E>;
