//! The pseudonymous patient reference: the one rule every entry path (batch files, the CLI,
//! the TUI form) and the store apply, so an unchecked reference never reaches the database.

use thiserror::Error;

/// Longest reference accepted, in characters.
pub const MAX_REF_CHARS: usize = 64;

/// Why a reference was refused. The message never echoes the reference itself.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum PatientRefError {
    /// Nothing but white space.
    #[error("empty (expected a pseudonymous reference)")]
    Empty,
    /// Too long, or holding control characters.
    #[error("expected at most 64 printable characters (a pseudonym, not a name)")]
    NotAPseudonym,
}

/// A validated pseudonymous patient reference (trimmed; 1–64 printable characters).
///
/// `Debug` is redacted: the reference links a stored result to a person in the clinic's
/// records, so it must not reach logs or panics by accident. Use [`PatientRef::as_str`]
/// where it is meant to be shown (history, result files).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PatientRef(String);

impl PatientRef {
    /// Check and trim `value`.
    pub fn parse(value: &str) -> Result<Self, PatientRefError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(PatientRefError::Empty);
        }
        if value.chars().count() > MAX_REF_CHARS || value.chars().any(char::is_control) {
            return Err(PatientRefError::NotAPseudonym);
        }
        Ok(PatientRef(value.to_string()))
    }

    /// The reference text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PatientRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PatientRef(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_accepts_a_pseudonym() {
        let r = PatientRef::parse("  P-0001 ").expect("valid");
        assert_eq!(r.as_str(), "P-0001");
    }

    #[test]
    fn refuses_empty_long_and_control_characters() {
        assert_eq!(PatientRef::parse("   "), Err(PatientRefError::Empty));
        assert_eq!(
            PatientRef::parse(&"x".repeat(65)),
            Err(PatientRefError::NotAPseudonym)
        );
        assert!(PatientRef::parse(&"é".repeat(64)).is_ok());
        assert_eq!(
            PatientRef::parse("a\nb"),
            Err(PatientRefError::NotAPseudonym)
        );
    }

    #[test]
    fn debug_does_not_show_the_reference() {
        let r = PatientRef::parse("MRN-4711-SMITH").expect("valid");
        assert!(!format!("{r:?}").contains("4711"));
    }
}
