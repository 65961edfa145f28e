//! Process exit codes (documented in `--help` and the README): 0 success, 2 usage error
//! (clap), 3 invalid input, 4 cryptographic or integrity failure, 5 privacy budget refused,
//! 6 storage failure, 1 anything else.

use pulsecure_core::app::model_service::RollbackError;
use pulsecure_core::ports::fhe::FheError;
use pulsecure_core::ports::privacy::PrivacyError;
use pulsecure_core::ports::store::StoreError;
use pulsecure_signing::SigningError;
use pulsecure_vault::VaultError;

/// Any other failure.
pub const FAILURE: i32 = 1;
/// Invalid input (patient values, files, some batch rows).
pub const INPUT: i32 = 3;
/// Cryptographic or integrity failure (password, vault, keys, ciphertexts, signatures,
/// model hash, altered database rows).
pub const CRYPTO: i32 = 4;
/// A differential-privacy release refused by the budget.
pub const BUDGET: i32 = 5;
/// The database is locked, read-only, full or from a newer build.
pub const STORAGE: i32 = 6;

fn vault_code(e: &VaultError) -> i32 {
    match e {
        VaultError::PasswordTooShort { .. } | VaultError::AlreadyExists(_) => INPUT,
        VaultError::Io { .. } | VaultError::Random => FAILURE,
        _ => CRYPTO,
    }
}

fn store_code(e: &StoreError) -> i32 {
    match e {
        StoreError::Corrupt { .. } | StoreError::WrongKey => CRYPTO,
        StoreError::Duplicate { .. } | StoreError::NotFound(_) => INPUT,
        StoreError::Locked | StoreError::TooNew { .. } | StoreError::Backend(_) => STORAGE,
    }
}

/// Pick the exit code for an error by its root cause.
pub fn code_for(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if cause
            .downcast_ref::<pulsecure_core::PatientError>()
            .is_some()
            || cause.downcast_ref::<pulsecure_core::ModelError>().is_some()
            || cause
                .downcast_ref::<crate::screen::RowsRejected>()
                .is_some()
        {
            return INPUT;
        }
        if let Some(e) = cause.downcast_ref::<PrivacyError>() {
            return match e {
                PrivacyError::BudgetExceeded { .. } => BUDGET,
                PrivacyError::Ledger(_) => STORAGE,
                _ => INPUT,
            };
        }
        if let Some(e) = cause.downcast_ref::<VaultError>() {
            return vault_code(e);
        }
        if let Some(e) = cause.downcast_ref::<StoreError>() {
            return store_code(e);
        }
        if let Some(e) = cause.downcast_ref::<RollbackError>() {
            return match e {
                RollbackError::Store(s) => store_code(s),
                _ => CRYPTO,
            };
        }
        if cause.downcast_ref::<FheError>().is_some()
            || cause.downcast_ref::<SigningError>().is_some()
            || cause
                .downcast_ref::<crate::embedded::IntegrityError>()
                .is_some()
            || cause
                .downcast_ref::<crate::history::DatabaseDamaged>()
                .is_some()
        {
            return CRYPTO;
        }
    }
    FAILURE
}
