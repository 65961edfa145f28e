//! Process exit codes (documented in `--help` and the README). 0 is success, 2 a usage error
//! (clap), 5 is reserved for privacy-budget refusals once `stats` exists.

/// Any other failure.
pub const FAILURE: i32 = 1;
/// Invalid input (patient values, files).
pub const INPUT: i32 = 3;
/// Cryptographic or integrity failure (keys, ciphertexts, signatures, model hash).
pub const CRYPTO: i32 = 4;

/// Pick the exit code for an error by its root cause.
pub fn code_for(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if cause
            .downcast_ref::<pulsecure_core::PatientError>()
            .is_some()
            || cause.downcast_ref::<pulsecure_core::ModelError>().is_some()
        {
            return INPUT;
        }
        if cause
            .downcast_ref::<pulsecure_core::ports::fhe::FheError>()
            .is_some()
            || cause
                .downcast_ref::<crate::embedded::IntegrityError>()
                .is_some()
        {
            return CRYPTO;
        }
    }
    FAILURE
}
