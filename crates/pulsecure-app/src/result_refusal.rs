//! What the workstation does when it refuses a decrypted result (single, batch, queue and
//! TUI screenings alike): nothing is stored, and the refusal is written to the audit log and
//! the operational log — by kind and model only, never with the patient's reference, values
//! or the refused probability.

use pulsecure_core::app::result_check::ResultRefused;
use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::Model;

use pulsecure_core::ports::store::StoreError;

/// Record a refused result for `model` in `audit` (entry `result-mismatch`).
pub(crate) fn record_refusal(
    audit: &dyn AuditLog,
    model: &Model,
    refusal: &ResultRefused,
) -> Result<(), StoreError> {
    tracing::warn!(
        model_id = model.id(),
        model_version = model.version(),
        kind = refusal.as_str(),
        "an evaluator result was refused and nothing was stored"
    );
    audit.log_event(
        AuditEvent::ResultMismatch,
        &format!(
            "model {} v{}: {}",
            model.id(),
            model.version(),
            refusal.as_str()
        ),
    )
}

/// [`record_refusal`] for a schema-2 (published equation) model.
pub(crate) fn record_equation_refusal(
    audit: &dyn AuditLog,
    model: &EquationModel,
    refusal: &ResultRefused,
) -> Result<(), StoreError> {
    tracing::warn!(
        model_id = model.id(),
        model_version = model.version(),
        kind = refusal.as_str(),
        "an evaluator result was refused and nothing was stored"
    );
    audit.log_event(
        AuditEvent::ResultMismatch,
        &format!(
            "model {} v{}: {}",
            model.id(),
            model.version(),
            refusal.as_str()
        ),
    )
}
