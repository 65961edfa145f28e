//! The binary's one error type and its exit codes (documented in `--help` and the README):
//! 0 success, 2 usage error (clap), 3 invalid input, 4 cryptographic or integrity failure,
//! 5 privacy budget refused, 6 storage failure, 7 evaluator unreachable or timed out,
//! 1 anything else. Every variant of every wrapped library error is matched explicitly:
//! a new variant is a compile error here until it is given a code.

use pulsecure_app::AppError;
use pulsecure_batch_input::BatchError;
use pulsecure_core::ports::fhe::FheError;
use pulsecure_core::ports::privacy::PrivacyError;
use pulsecure_core::ports::store::StoreError;
use pulsecure_core::usecase::model_service::RollbackError;
use pulsecure_fhir::FhirError;
use pulsecure_queue::QueueError;
use pulsecure_signing::SigningError;
use pulsecure_vault::VaultError;
use thiserror::Error;

/// Any other failure.
pub const FAILURE: i32 = 1;
/// Invalid input (patient values, files, some batch rows, option values).
pub const INPUT: i32 = 3;
/// Cryptographic or integrity failure (password, vault, keys, ciphertexts, signatures,
/// model hash, altered database rows).
pub const CRYPTO: i32 = 4;
/// A differential-privacy release refused by the budget.
pub const BUDGET: i32 = 5;
/// The database is locked, read-only, full or from a newer build.
pub const STORAGE: i32 = 6;
/// The configured evaluator cannot be reached or did not answer in time.
pub const EVALUATOR: i32 = 7;
/// Options that do not fit together (clap's own usage errors exit 2 too).
pub const USAGE: i32 = 2;

/// Why a command failed.
#[derive(Debug, Error)]
pub enum CliError {
    /// A use case failed.
    #[error(transparent)]
    App(#[from] AppError),
    /// Command-line input that clap cannot check (a value flag, `--json`); never echoes a
    /// patient value.
    #[error("{0}")]
    Input(String),
    /// Some rows of a batch were rejected; the others were screened.
    #[error("{0} row(s) were rejected; the other rows were screened")]
    RowsRejected(usize),
    /// Some results of a batch were refused by the check against the reference engine
    /// (nothing stored for them, audited); the other rows were screened.
    #[error(
        "{0} result(s) were refused: they differ from what the reference engine computes for \
         the same input, so nothing was stored for them (audit entry `result-mismatch`); \
         the other rows were screened"
    )]
    ResultsRefused(usize),
    /// The user declined (or could not be asked) to spend privacy budget.
    #[error("{0}")]
    NotConfirmed(&'static str),
    /// A password could not be read from its source.
    #[error("{0}")]
    Password(String),
    /// A file the command reads or writes.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the file name.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A model file given to `model inspect|verify|sign`.
    #[error(transparent)]
    Signing(#[from] SigningError),
    /// Writing a publisher key or signature file.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// A model file that is not a valid model.
    #[error(transparent)]
    Model(#[from] pulsecure_core::ModelError),
    /// An encrypted result differed from the reference engine (demo, bench).
    #[error("{0}")]
    EngineMismatch(&'static str),
    /// Encoding output.
    #[error("writing the output: {0}")]
    Output(String),
    /// Options that do not fit together.
    #[error("{0}")]
    Usage(String),
    /// The demo's own evaluator process could not be started or stopped.
    #[error("the local evaluator: {0}")]
    LocalEvaluator(String),
}

impl CliError {
    /// The outcome of a batch with `rejected` rejected rows and `refused` refused results:
    /// refused results (a cryptographic failure, exit 4) outrank rejected input (exit 3).
    pub fn rows_outcome(rejected: usize, refused: usize) -> Result<(), CliError> {
        if refused > 0 {
            Err(CliError::ResultsRefused(refused))
        } else if rejected > 0 {
            Err(CliError::RowsRejected(rejected))
        } else {
            Ok(())
        }
    }

    /// An I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        CliError::Io {
            what: what.into(),
            source,
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::App(e) => app_code(e),
            CliError::Input(_) | CliError::RowsRejected(_) => INPUT,
            CliError::ResultsRefused(_) => CRYPTO,
            CliError::NotConfirmed(_) | CliError::Password(_) | CliError::Io { .. } => FAILURE,
            CliError::Output(_) => FAILURE,
            CliError::Signing(e) => signing_code(e),
            CliError::Vault(e) => vault_code(e),
            CliError::Model(_) => INPUT,
            CliError::EngineMismatch(_) => CRYPTO,
            CliError::Usage(_) => USAGE,
            CliError::LocalEvaluator(_) => EVALUATOR,
        }
    }
}

impl From<pulsecure_core::ports::fhe::FheError> for CliError {
    fn from(e: pulsecure_core::ports::fhe::FheError) -> Self {
        CliError::App(AppError::Fhe(e))
    }
}

impl From<pulsecure_core::usecase::inference::InferenceError> for CliError {
    fn from(e: pulsecure_core::usecase::inference::InferenceError) -> Self {
        CliError::App(e.into())
    }
}

impl From<serde_json::Error> for CliError {
    fn from(e: serde_json::Error) -> Self {
        CliError::Output(e.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::io("writing the output", e)
    }
}

impl From<csv::Error> for CliError {
    fn from(e: csv::Error) -> Self {
        CliError::Output(e.to_string())
    }
}

fn app_code(e: &AppError) -> i32 {
    match e {
        AppError::NotInitialized { .. } | AppError::AlreadyInitialized { .. } => FAILURE,
        AppError::DataDirNotPrivate { .. } | AppError::DatabaseExists { .. } => FAILURE,
        AppError::Io { .. } | AppError::Output(_) | AppError::Random => FAILURE,
        AppError::Cancelled => FAILURE,
        AppError::ResultRefused(_) => CRYPTO,
        AppError::Vault(v) => vault_code(v),
        AppError::Store(s) => store_code(s),
        AppError::Privacy(p) => privacy_code(p),
        AppError::Fhe(FheError::Unavailable(_) | FheError::Busy(_)) => EVALUATOR,
        // The same exit code as the same condition found when the workstation opened.
        AppError::Fhe(FheError::KeyUnknown | FheError::ModelUnknown(_)) => FAILURE,
        AppError::Fhe(_) => CRYPTO,
        AppError::Signing(s) => signing_code(s),
        AppError::Rollback(r) => rollback_code(r),
        AppError::Model(_) => INPUT,
        AppError::Catalog(_) => CRYPTO,
        AppError::Patient(_) | AppError::PatientRef(_) | AppError::Date(_) => INPUT,
        AppError::Batch(b) => match b {
            BatchError::Io { .. } => FAILURE,
            BatchError::Invalid { .. } => INPUT,
        },
        AppError::Fhir(f) => match f {
            FhirError::Io { .. } | FhirError::Spill(_) => FAILURE,
            FhirError::Invalid { .. } => INPUT,
        },
        AppError::FhirUnmapped(_) => USAGE,
        AppError::Integrity(_) | AppError::DatabaseDamaged { .. } => CRYPTO,
        AppError::KeyNotTrustedForModel { .. } | AppError::EvaluatorUntrusted { .. } => CRYPTO,
        AppError::EvaluatorUnreachable { .. } => EVALUATOR,
        AppError::KeyNotRegistered { .. }
        | AppError::ModelNotServed { .. }
        | AppError::EvaluatorRefused { .. } => FAILURE,
        AppError::Queue(q) => queue_code(q),
        AppError::JobsPending(_) => FAILURE,
        AppError::UnknownModel(_) => USAGE,
    }
}

fn queue_code(e: &QueueError) -> i32 {
    match e {
        QueueError::Address(_) => INPUT,
        QueueError::Unreachable { .. } => EVALUATOR,
        QueueError::SchemaTooNew { .. } => STORAGE,
        QueueError::Database { .. } | QueueError::Corrupt(_) | QueueError::TooLarge { .. } => {
            FAILURE
        }
    }
}

fn vault_code(e: &VaultError) -> i32 {
    match e {
        VaultError::PasswordTooShort { .. } | VaultError::AlreadyExists(_) => INPUT,
        VaultError::Io { .. } | VaultError::Random => FAILURE,
        VaultError::BadMagic
        | VaultError::UnsupportedVersion { .. }
        | VaultError::BadLength { .. }
        | VaultError::UnsafeKdfParams { .. }
        | VaultError::HeaderCorrupted
        | VaultError::WrongPassword
        | VaultError::PayloadCorrupted
        | VaultError::PayloadMalformed(_)
        | VaultError::MissingEntry(_)
        | VaultError::InvalidEntry(_)
        | VaultError::Crypto(_) => CRYPTO,
    }
}

fn store_code(e: &StoreError) -> i32 {
    match e {
        StoreError::Corrupt { .. } | StoreError::WrongKey | StoreError::Tampered(_) => CRYPTO,
        StoreError::Duplicate | StoreError::NotFound(_) => INPUT,
        StoreError::Locked | StoreError::TooNew { .. } | StoreError::Backend(_) => STORAGE,
    }
}

fn privacy_code(e: &PrivacyError) -> i32 {
    match e {
        PrivacyError::BudgetExceeded { .. } => BUDGET,
        PrivacyError::Store(s) => store_code(s),
        PrivacyError::Ledger(_) => STORAGE,
        PrivacyError::Catalog(_) => CRYPTO,
        PrivacyError::InvalidEpsilon
        | PrivacyError::EmptyDataset
        | PrivacyError::Query(_)
        | PrivacyError::InvalidBudget
        | PrivacyError::MissingFeature { .. } => INPUT,
        PrivacyError::Mechanism(_) => FAILURE,
    }
}

fn signing_code(e: &SigningError) -> i32 {
    match e {
        SigningError::MalformedSignature(_)
        | SigningError::MalformedPublicKey(_)
        | SigningError::UntrustedKey { .. }
        | SigningError::RetiredKey { .. }
        | SigningError::BadSignature { .. }
        | SigningError::MalformedClaim(_)
        | SigningError::ClaimMismatch { .. }
        | SigningError::Model(_) => CRYPTO,
        SigningError::Publisher(_) => FAILURE,
    }
}

fn rollback_code(e: &RollbackError) -> i32 {
    match e {
        RollbackError::Older { .. } | RollbackError::SameVersionDifferentContent { .. } => CRYPTO,
        RollbackError::Store(s) => store_code(s),
    }
}

/// The error and its causes on one line (`a: b: c`), a cause left out when the message
/// above it already ends with it.
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let line = c.to_string();
        if !text.ends_with(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        cause = c.source();
    }
    text
}

/// A hint for the user, printed under the error: recovery advice belongs to the binary.
pub fn hint(e: &CliError) -> Option<&'static str> {
    match e {
        CliError::App(AppError::NotInitialized { .. }) => {
            Some("run `pulsecure init` first (or pass --data-dir)")
        }
        CliError::App(AppError::Signing(SigningError::UntrustedKey { .. }))
        | CliError::Signing(SigningError::UntrustedKey { .. })
        | CliError::App(AppError::KeyNotTrustedForModel { .. }) => Some(
            "if the publisher is genuine, trust its key for this model with `pulsecure model trust-key --model-id`",
        ),
        CliError::App(AppError::AlreadyInitialized { .. }) => {
            Some("keys cannot be recovered; use another --data-dir for a new vault")
        }
        CliError::App(AppError::ResultRefused(_)) | CliError::ResultsRefused(_) => Some(
            "the evaluator (or the queue, or whoever answered on its address) returned a wrong result; \
             check which evaluator is configured (`pulsecure evaluator show`) and tell its operator",
        ),
        CliError::App(AppError::Store(StoreError::Duplicate)) => {
            Some("not screened again; see `pulsecure history`")
        }
        CliError::App(AppError::KeyNotRegistered { .. })
        | CliError::App(AppError::Fhe(FheError::KeyUnknown)) => {
            Some("upload it once with `pulsecure keys register` (same --evaluator)")
        }
        CliError::App(AppError::ModelNotServed { .. })
        | CliError::App(AppError::Fhe(FheError::ModelUnknown(_))) => Some(
            "install the signed release on the evaluator: `pulsecure-evaluator install-model MODEL.json`, then restart it",
        ),
        CliError::App(AppError::Fhe(FheError::Busy(_))) => Some(
            "the evaluator's queue stayed full: retry later, or ask its operator for more workers",
        ),
        CliError::App(AppError::EvaluatorUnreachable { .. })
        | CliError::App(AppError::Fhe(FheError::Unavailable(_))) => Some(
            "start it with `pulsecure-evaluator serve`, or choose another with --evaluator (`in-process` for offline use)",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulsecure_core::domain::analytics::QueryError;
    use pulsecure_core::ports::catalog::CatalogError;
    use pulsecure_core::ports::fhe::FheError;
    use pulsecure_core::{ModelError, PatientError, PatientRefError};

    fn io() -> std::io::Error {
        std::io::Error::other("test")
    }

    fn s() -> String {
        "x".into()
    }

    /// One example of every variant, with the code it must map to. The exhaustive `match`es
    /// above make a new variant a compile error; this table pins the codes themselves.
    #[test]
    fn every_error_variant_has_its_exit_code() {
        let store = [
            (StoreError::Backend(s()), STORAGE),
            (StoreError::Corrupt { id: 1 }, CRYPTO),
            (StoreError::WrongKey, CRYPTO),
            (StoreError::Locked, STORAGE),
            (
                StoreError::TooNew {
                    found: 9,
                    supported: 1,
                },
                STORAGE,
            ),
            (StoreError::Duplicate, INPUT),
            (StoreError::NotFound(1), INPUT),
            (StoreError::Tampered(s()), CRYPTO),
        ];
        let vault = [
            (VaultError::BadMagic, CRYPTO),
            (
                VaultError::UnsupportedVersion {
                    found: 9,
                    supported: 1,
                },
                CRYPTO,
            ),
            (
                VaultError::BadLength {
                    expected: 1,
                    found: 2,
                },
                CRYPTO,
            ),
            (
                VaultError::UnsafeKdfParams {
                    params: pulsecure_vault::KdfParams {
                        memory_kib: 1,
                        iterations: 1,
                        parallelism: 1,
                    },
                    reason: "too cheap",
                },
                CRYPTO,
            ),
            (VaultError::HeaderCorrupted, CRYPTO),
            (VaultError::WrongPassword, CRYPTO),
            (VaultError::PayloadCorrupted, CRYPTO),
            (VaultError::PayloadMalformed("x"), CRYPTO),
            (VaultError::PasswordTooShort { min: 12 }, INPUT),
            (VaultError::MissingEntry(s()), CRYPTO),
            (VaultError::InvalidEntry(s()), CRYPTO),
            (VaultError::Random, FAILURE),
            (VaultError::Crypto("x"), CRYPTO),
            (
                VaultError::Io {
                    action: "reading",
                    path: s(),
                    source: io(),
                },
                FAILURE,
            ),
            (VaultError::AlreadyExists(s()), INPUT),
        ];
        let signing = || {
            vec![
                (SigningError::MalformedSignature(s()), CRYPTO),
                (SigningError::MalformedPublicKey(s()), CRYPTO),
                (SigningError::UntrustedKey { key_id: s() }, CRYPTO),
                (
                    SigningError::RetiredKey {
                        key_id: s(),
                        scope: s(),
                        model_id: s(),
                        version: 2,
                    },
                    CRYPTO,
                ),
                (SigningError::BadSignature { key_id: s() }, CRYPTO),
                (SigningError::MalformedClaim(s()), CRYPTO),
                (
                    SigningError::ClaimMismatch {
                        model_id: s(),
                        version: 1,
                        field: "sha256",
                        signed: s(),
                        actual: s(),
                    },
                    CRYPTO,
                ),
                (SigningError::Model(ModelError::Malformed(s())), CRYPTO),
                (SigningError::Publisher(s()), FAILURE),
            ]
        };
        let privacy = vec![
            (PrivacyError::InvalidEpsilon, INPUT),
            (
                PrivacyError::BudgetExceeded {
                    requested: 1.0,
                    remaining: 0.0,
                },
                BUDGET,
            ),
            (PrivacyError::EmptyDataset, INPUT),
            (PrivacyError::Query(QueryError::UnknownQuery(s())), INPUT),
            (PrivacyError::Store(StoreError::Corrupt { id: 3 }), CRYPTO),
            (PrivacyError::Store(StoreError::Locked), STORAGE),
            (
                PrivacyError::Catalog(CatalogError::Unknown {
                    id: s(),
                    version: 2,
                }),
                CRYPTO,
            ),
            (
                PrivacyError::MissingFeature {
                    model: s(),
                    feature: "age",
                },
                INPUT,
            ),
            (PrivacyError::InvalidBudget, INPUT),
            (PrivacyError::Mechanism(s()), FAILURE),
            (PrivacyError::Ledger(s()), STORAGE),
        ];
        let mut cases: Vec<(CliError, i32)> = Vec::new();
        for (e, code) in store {
            cases.push((CliError::App(AppError::Store(e.clone())), code));
            cases.push((
                CliError::App(AppError::Rollback(RollbackError::Store(e))),
                code,
            ));
        }
        for (e, code) in vault {
            cases.push((CliError::App(AppError::Vault(e)), code));
        }
        for (e, code) in signing() {
            cases.push((CliError::App(AppError::Signing(e)), code));
        }
        for (e, code) in signing() {
            cases.push((CliError::Signing(e), code));
        }
        for (e, code) in privacy {
            cases.push((CliError::App(AppError::Privacy(e)), code));
        }
        let dir = std::path::PathBuf::from("/data");
        let app = vec![
            (AppError::NotInitialized { dir: dir.clone() }, FAILURE),
            (AppError::AlreadyInitialized { dir: dir.clone() }, FAILURE),
            (
                AppError::DataDirNotPrivate {
                    dir: dir.clone(),
                    reason: s(),
                },
                FAILURE,
            ),
            (AppError::DatabaseExists { path: dir.clone() }, FAILURE),
            (
                AppError::Io {
                    action: "reading",
                    path: dir,
                    source: io(),
                },
                FAILURE,
            ),
            (AppError::Fhe(FheError::Evaluation(s())), CRYPTO),
            (AppError::Fhe(FheError::KeyUnknown), FAILURE),
            (AppError::Fhe(FheError::ModelUnknown(s())), FAILURE),
            (AppError::Fhe(FheError::Busy(s())), EVALUATOR),
            (
                AppError::Rollback(RollbackError::Older {
                    model_id: s(),
                    offered: 1,
                    accepted: 2,
                }),
                CRYPTO,
            ),
            (
                AppError::Rollback(RollbackError::SameVersionDifferentContent {
                    model_id: s(),
                    version: 1,
                }),
                CRYPTO,
            ),
            (AppError::Model(ModelError::Malformed(s())), INPUT),
            (
                AppError::Catalog(CatalogError::Unusable {
                    id: s(),
                    version: 1,
                    reason: s(),
                }),
                CRYPTO,
            ),
            (
                AppError::Patient(PatientError::Missing {
                    field: s(),
                    allowed: s(),
                }),
                INPUT,
            ),
            (AppError::PatientRef(PatientRefError::Empty), INPUT),
            (
                AppError::Batch(BatchError::Invalid {
                    name: s(),
                    reason: s(),
                }),
                INPUT,
            ),
            (
                AppError::Batch(BatchError::Io {
                    name: s(),
                    source: io(),
                }),
                FAILURE,
            ),
            (
                AppError::Date(pulsecure_app::dates::DateError { option: s() }),
                INPUT,
            ),
            (AppError::Integrity(s()), CRYPTO),
            (
                AppError::KeyNotTrustedForModel {
                    key_id: s(),
                    model_id: s(),
                },
                CRYPTO,
            ),
            (
                AppError::DatabaseDamaged {
                    damaged_rows: 1,
                    integrity: s(),
                },
                CRYPTO,
            ),
            (AppError::Cancelled, FAILURE),
            (AppError::EvaluatorUnreachable { endpoint: s() }, EVALUATOR),
            (AppError::Fhe(FheError::Unavailable(s())), EVALUATOR),
            (
                AppError::KeyNotRegistered {
                    endpoint: s(),
                    key_set: s(),
                },
                FAILURE,
            ),
            (
                AppError::ModelNotServed {
                    endpoint: s(),
                    model_id: s(),
                    version: 1,
                    fingerprint: s(),
                },
                FAILURE,
            ),
            (
                AppError::EvaluatorRefused {
                    endpoint: s(),
                    reason: s(),
                },
                FAILURE,
            ),
            (
                AppError::EvaluatorUntrusted {
                    endpoint: s(),
                    reason: s(),
                },
                CRYPTO,
            ),
            (AppError::Output(io()), FAILURE),
            (AppError::Random, FAILURE),
            (AppError::Queue(QueueError::Address(s())), INPUT),
            (
                AppError::Queue(QueueError::Unreachable {
                    action: "x",
                    reason: s(),
                }),
                EVALUATOR,
            ),
            (
                AppError::Queue(QueueError::Database {
                    action: "x",
                    reason: s(),
                }),
                FAILURE,
            ),
            (
                AppError::Queue(QueueError::SchemaTooNew {
                    found: 2,
                    supported: 1,
                }),
                STORAGE,
            ),
            (AppError::Queue(QueueError::Corrupt(s())), FAILURE),
            (
                AppError::Queue(QueueError::TooLarge {
                    what: "result",
                    bytes: 2,
                    limit: 1,
                }),
                FAILURE,
            ),
            (AppError::JobsPending(3), FAILURE),
            (AppError::UnknownModel("pce".into()), USAGE),
            (
                AppError::ResultRefused(
                    pulsecure_core::usecase::result_check::ResultRefused::DiffersFromReference,
                ),
                CRYPTO,
            ),
        ];
        for (e, code) in app {
            cases.push((CliError::App(e), code));
        }
        cases.extend([
            (CliError::Input(s()), INPUT),
            (CliError::RowsRejected(2), INPUT),
            (CliError::ResultsRefused(1), CRYPTO),
            (CliError::NotConfirmed("x"), FAILURE),
            (CliError::Password(s()), FAILURE),
            (CliError::io("x", io()), FAILURE),
            (CliError::Vault(VaultError::WrongPassword), CRYPTO),
            (CliError::Model(ModelError::Malformed(s())), INPUT),
            (CliError::EngineMismatch("x"), CRYPTO),
            (CliError::Output(s()), FAILURE),
        ]);
        for (error, expected) in &cases {
            assert_eq!(error.exit_code(), *expected, "{error:?}");
        }
        // Every code is used, and none silently collapses to 1 by a wildcard.
        for code in [FAILURE, INPUT, CRYPTO, BUDGET, STORAGE, EVALUATOR] {
            assert!(cases.iter().any(|(_, c)| *c == code), "code {code} unused");
        }
    }
}
