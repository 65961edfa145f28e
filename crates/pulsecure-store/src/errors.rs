//! Mapping SQLite failures to the core's storage errors, without patient data.

use pulsecure_core::ports::store::StoreError;
use rusqlite::ErrorCode;

/// Convert a rusqlite error, singling out lock contention.
pub(crate) fn from_sqlite(context: &str, error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => StoreError::Locked,
        Some(ErrorCode::ReadOnly) => {
            StoreError::Backend(format!("{context}: the database file is read-only"))
        }
        Some(ErrorCode::DiskFull) => {
            StoreError::Backend(format!("{context}: the disk is full; nothing was written"))
        }
        Some(ErrorCode::SystemIoFailure) => StoreError::Backend(format!(
            "{context}: disk I/O error (is the disk full or failing?); nothing was written"
        )),
        Some(ErrorCode::CannotOpen) => StoreError::Backend(format!(
            "{context}: cannot open the database file (missing directory or no permission)"
        )),
        Some(ErrorCode::NotADatabase) => StoreError::Backend(format!(
            "{context}: the file is not a SQLite database (or is damaged)"
        )),
        _ => StoreError::Backend(format!("{context}: {error}")),
    }
}

/// Shorthand for `map_err(|e| from_sqlite(context, e))`.
pub(crate) trait SqliteContext<T> {
    fn context(self, context: &str) -> Result<T, StoreError>;
}

impl<T> SqliteContext<T> for Result<T, rusqlite::Error> {
    fn context(self, context: &str) -> Result<T, StoreError> {
        self.map_err(|e| from_sqlite(context, e))
    }
}
