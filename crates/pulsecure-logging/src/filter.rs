//! The rule that patient values and secrets are never logged: an event (or span) whose
//! field names include a protected name is not recorded at all. Field names are static, so
//! the rule is checked on metadata, before any value is formatted.

use tracing::Metadata;

/// Field names dropped in every build, whatever the model.
pub const ALWAYS_PROTECTED: &[&str] = &[
    "password",
    "passphrase",
    "secret",
    "key",
    "client_key",
    "features",
    "values",
    "patient",
    "patient_ref",
    "patient_id",
    "probability",
    "probability_code",
    "ciphertext",
];

/// Whether `meta` declares a field named in [`ALWAYS_PROTECTED`] or in `extra` (the model's
/// feature names).
pub fn carries_protected_field(meta: &Metadata<'_>, extra: &[String]) -> bool {
    meta.fields().iter().any(|field| {
        let name = field.name();
        ALWAYS_PROTECTED.contains(&name) || extra.iter().any(|e| e == name)
    })
}
