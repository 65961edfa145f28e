//! What the workstation does when it refuses a decrypted result (single, batch, queue and
//! TUI screenings alike): nothing is stored, and the refusal is written to the audit log and
//! the operational log — by kind and model only, never with the patient's reference, values
//! or the refused probability.

use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::usecase::result_check::ResultRefused;

use pulsecure_core::ports::store::StoreError;

/// Record a refused result of release `model_id` v`model_version` (either schema) in `audit`
/// (entry `result-mismatch`) and the operational log.
pub(crate) fn record_refusal(
    audit: &dyn AuditLog,
    model_id: &str,
    model_version: u64,
    refusal: &ResultRefused,
) -> Result<(), StoreError> {
    tracing::warn!(
        model_id,
        model_version,
        kind = refusal.as_str(),
        "an evaluator result was refused and nothing was stored"
    );
    audit.log_event(
        AuditEvent::ResultMismatch,
        &format!("model {model_id} v{model_version}: {}", refusal.as_str()),
    )
}
