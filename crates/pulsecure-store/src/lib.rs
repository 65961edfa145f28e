//! Pulsecure's SQLite storage adapter.
//!
//! One database file per data directory, in WAL mode with foreign keys on and schema
//! migrations tracked in SQLite's `user_version`. Every patient-derived value (reference,
//! exact time, features, probability, class) is sealed with AES-256-GCM under the vault's
//! database key, with the row's id and clear columns as associated data, so the file reveals
//! no patient value and a row cannot be altered or moved unnoticed. Everything else that must
//! not change without the password (trusted keys, model state, privacy ledger, audit log) is
//! covered by one sealed integrity state checked at every open, whose generation the vault's
//! floor records so that an older copy of the whole file is refused. Connections run in
//! SQLite's defensive mode with `trusted_schema` off, and the schema must be exactly the one
//! this build defines (no trigger or view, whatever its name). Repositories implement the core's ports; the application never
//! writes SQL.

mod audit;
mod check;
mod database;
mod errors;
mod field_cipher;
mod floor_check;
mod integrity;
mod integrity_state;
#[cfg(test)]
mod integrity_tests;
mod ledger;
mod protected_tables;
mod queued_jobs;
mod registry;
mod rekey;
mod rollback_floor;
mod schema;
mod screenings;
mod sealed_payload;
mod trusted_keys;
mod upgrade;

pub use audit::AuditEntry;
pub use check::CheckReport;
pub use database::Database;
pub use field_cipher::FieldKey;
pub use ledger::DEFAULT_TOTAL_EPSILON;
pub use queued_jobs::QueuedJob;
pub use rollback_floor::{Opened, StateFloor};
pub use schema::SCHEMA_VERSION;
pub use screenings::ScreeningFilter;
pub use trusted_keys::TrustedKeyRecord;
