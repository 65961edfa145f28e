//! What can go wrong with the queue. Messages name the operation and PostgreSQL's reason;
//! they never hold ciphertext, key bytes or a password.

use thiserror::Error;

/// A queue failure.
#[derive(Debug, Error)]
pub enum QueueError {
    /// The queue URL is unusable (which part, and what is expected).
    #[error("queue address: {0}")]
    Address(String),
    /// The database could not be reached, or the connection dropped.
    #[error("queue database unreachable while {action}: {reason}")]
    Unreachable {
        /// What was being done.
        action: &'static str,
        /// Why.
        reason: String,
    },
    /// The database refused a statement.
    #[error("queue database error while {action}: {reason}")]
    Database {
        /// What was being done.
        action: &'static str,
        /// PostgreSQL's message.
        reason: String,
    },
    /// The database holds a newer queue schema than this build knows.
    #[error("the queue schema is at version {found}, newer than this build's {supported}: upgrade Pulsecure")]
    SchemaTooNew {
        /// Version in the database.
        found: i32,
        /// Newest this build knows.
        supported: i32,
    },
    /// Something in the queue is not what this build wrote (a damaged or foreign row).
    #[error("queue data: {0}")]
    Corrupt(String),
    /// A value in the queue is larger than any this build writes: it was not read.
    #[error("queue data: the {what} is {bytes} bytes, above the limit of {limit}: refused unread")]
    TooLarge {
        /// What it is: `request`, `result`, `server key`.
        what: &'static str,
        /// Its size in the database.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
}

impl QueueError {
    /// Whether the connection was lost or never made (worth reconnecting and retrying).
    pub fn is_connection(&self) -> bool {
        matches!(self, QueueError::Unreachable { .. })
    }

    pub(crate) fn from_pg(action: &'static str) -> impl FnOnce(tokio_postgres::Error) -> Self {
        move |e| {
            let lost = e.is_closed()
                || e.as_db_error().is_none() && {
                    let text = e.to_string();
                    text.contains("connection") || text.contains("timed out")
                }
                || e.as_db_error().is_some_and(|db| {
                    // admin_shutdown, crash_shutdown, cannot_connect_now
                    matches!(db.code().code(), "57P01" | "57P02" | "57P03")
                });
            let reason = match e.as_db_error() {
                Some(db) => db.message().to_string(),
                None => e.to_string(),
            };
            if lost {
                QueueError::Unreachable { action, reason }
            } else {
                QueueError::Database { action, reason }
            }
        }
    }
}
