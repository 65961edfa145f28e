//! Errors of the client side. They name the evaluator's address and the gRPC status, never
//! request bytes.

use pulsecure_core::ports::fhe::FheError;
use tonic::Code;

/// Why talking to the evaluator failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// No connection could be made (after retries).
    #[error("cannot reach the evaluator at {address}: {reason}")]
    Unreachable {
        /// The configured address.
        address: String,
        /// The transport's reason.
        reason: String,
    },
    /// The TLS files could not be read or used.
    #[error("evaluator TLS setup: {0}")]
    Tls(String),
    /// The evaluator answered with an error status.
    #[error("the evaluator refused ({code:?}): {message}")]
    Refused {
        /// The gRPC status code.
        code: Code,
        /// The evaluator's message.
        message: String,
    },
    /// The evaluator stayed busy (its queue full, saying when to come back) for the whole
    /// retry budget.
    #[error("the evaluator at {address} stayed busy: {message}")]
    Busy {
        /// The configured address.
        address: String,
        /// The evaluator's last message.
        message: String,
    },
    /// The client's I/O runtime could not start.
    #[error("starting the evaluator client: {0}")]
    Runtime(String),
    /// Whoever serves the Unix socket is not who the client expects (another user's
    /// process, or a socket another user could have placed): nothing was sent to it.
    #[error("refusing the evaluator at {address}: {reason}")]
    Untrusted {
        /// The configured address.
        address: String,
        /// What did not match.
        reason: String,
    },
}

impl RemoteError {
    /// Whether the evaluator was not reachable (as opposed to reachable and refusing).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, RemoteError::Unreachable { .. })
    }
}

/// What an evaluator older than the request format (before `PSQ3`) answers to a request it
/// cannot read: its generic refusal of an unknown frame magic.
const OLDER_EVALUATOR_SAYS: &str = "wrong magic";

impl From<RemoteError> for FheError {
    fn from(e: RemoteError) -> Self {
        match e {
            RemoteError::Unreachable { .. } | RemoteError::Runtime(_) => {
                FheError::Unavailable(e.to_string())
            }
            RemoteError::Tls(_) => FheError::Unavailable(e.to_string()),
            RemoteError::Busy { message, .. } => FheError::Busy(message),
            RemoteError::Untrusted { .. } => FheError::Mismatch {
                what: "evaluator",
                reason: e.to_string(),
            },
            RemoteError::Refused { code, message } => match code {
                Code::InvalidArgument if message.contains(OLDER_EVALUATOR_SAYS) => {
                    FheError::Malformed {
                        what: "request",
                        reason: format!(
                            "{message} — the evaluator does not know this client's version-3 \
                             (PSQ3) requests: it predates them and must be upgraded"
                        ),
                    }
                }
                Code::InvalidArgument => FheError::Malformed {
                    what: "request",
                    reason: message,
                },
                // Typed, so that a key or model missing mid-batch means what it means at open;
                // recovery hints belong to the binary.
                Code::NotFound => FheError::KeyUnknown,
                Code::FailedPrecondition => FheError::ModelUnknown(message),
                Code::Unavailable | Code::DeadlineExceeded => {
                    FheError::Unavailable(format!("{code:?}: {message}"))
                }
                _ => FheError::Evaluation(format!("the evaluator answered {code:?}: {message}")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(code: Code) -> FheError {
        RemoteError::Refused {
            code,
            message: "m".into(),
        }
        .into()
    }

    #[test]
    fn refusals_keep_their_meaning_through_the_port() {
        assert!(matches!(refused(Code::NotFound), FheError::KeyUnknown));
        assert!(matches!(
            refused(Code::FailedPrecondition),
            FheError::ModelUnknown(_)
        ));
        // A final RESOURCE_EXHAUSTED (an oversized request, a key quota) is a refusal; only
        // a queue that stayed full through the retries is `Busy`.
        assert!(matches!(
            refused(Code::ResourceExhausted),
            FheError::Evaluation(_)
        ));
        let busy: FheError = RemoteError::Busy {
            address: "a".into(),
            message: "m".into(),
        }
        .into();
        assert!(matches!(busy, FheError::Busy(_)));
        assert!(matches!(
            refused(Code::Unavailable),
            FheError::Unavailable(_)
        ));
        assert!(matches!(
            refused(Code::InvalidArgument),
            FheError::Malformed { .. }
        ));
        // An evaluator older than the request format is named as such.
        let older: FheError = RemoteError::Refused {
            code: Code::InvalidArgument,
            message: "malformed request: wrong magic (not a Pulsecure message of this kind)".into(),
        }
        .into();
        assert!(older.to_string().contains("must be upgraded"), "{older}");
        // No recovery hint inside the library's message: hints belong to the binary.
        assert!(!refused(Code::NotFound)
            .to_string()
            .contains("pulsecure keys"));
    }
}
