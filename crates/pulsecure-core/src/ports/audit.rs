//! Security audit log port: vault unlocks, key changes, model installs, DP releases.
//!
//! Entries describe what happened to keys, models and budgets; they never carry patient
//! values, passwords or key bytes.

use crate::ports::store::StoreError;

/// The kinds of security-relevant events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditEvent {
    /// A vault and key set were created.
    VaultCreated,
    /// The vault was unlocked.
    VaultUnlocked,
    /// The vault password was changed.
    PasswordChanged,
    /// The server key was exported for an evaluator.
    ServerKeyExported,
    /// A model release was installed.
    ModelInstalled,
    /// A model release was refused (signature, rollback).
    ModelRefused,
    /// A publisher key was added to the trusted set.
    TrustedKeyAdded,
    /// A differentially private statistic was released.
    PrivacyRelease,
    /// Decrypted screenings were exported.
    DataExported,
    /// The database was missing and was created anew, with the vault's record of the model
    /// baselines and the spent privacy budget carried over.
    DatabaseRecreated,
    /// The database's integrity records were created for a database written before them.
    IntegrityAdopted,
    /// The data keys were replaced and every row re-sealed.
    KeysRotated,
    /// The server key was uploaded to an evaluator service.
    ServerKeyRegistered,
    /// The saved evaluator setting was changed or cleared.
    EvaluatorConfigured,
    /// A decrypted result was refused: it was not what the reference engine computes for
    /// the encrypted input (a faulty or malicious evaluator, queue writer or impostor).
    ResultMismatch,
}

impl AuditEvent {
    /// Stable name stored in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::VaultCreated => "vault-created",
            AuditEvent::VaultUnlocked => "vault-unlocked",
            AuditEvent::PasswordChanged => "password-changed",
            AuditEvent::ServerKeyExported => "server-key-exported",
            AuditEvent::ModelInstalled => "model-installed",
            AuditEvent::ModelRefused => "model-refused",
            AuditEvent::TrustedKeyAdded => "trusted-key-added",
            AuditEvent::PrivacyRelease => "privacy-release",
            AuditEvent::DataExported => "data-exported",
            AuditEvent::DatabaseRecreated => "database-recreated",
            AuditEvent::IntegrityAdopted => "integrity-adopted",
            AuditEvent::KeysRotated => "keys-rotated",
            AuditEvent::ServerKeyRegistered => "server-key-registered",
            AuditEvent::EvaluatorConfigured => "evaluator-configured",
            AuditEvent::ResultMismatch => "result-mismatch",
        }
    }
}

/// Appends security events.
pub trait AuditLog: Send + Sync {
    /// Record `event` with a short detail (ids, versions, ε — never patient data).
    fn log_event(&self, event: AuditEvent, detail: &str) -> Result<(), StoreError>;
}
