//! Argon2id key derivation with a cost bounded both ways.
//!
//! The lower bound keeps offline guessing expensive (OWASP's floor for Argon2id is 19 MiB
//! with 2 passes); the upper bound stops a crafted file from making an unlock take minutes
//! or exhaust memory before the password is even checked.

use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::ExposeSecret;

use crate::error::VaultError;
use crate::kdf_params::KdfParams;
use crate::secret::{DataKey, Password};

impl KdfParams {
    /// Refuse parameters outside the window, naming the broken bound.
    pub fn check(&self) -> Result<(), VaultError> {
        let refuse = |reason| {
            Err(VaultError::UnsafeKdfParams {
                params: *self,
                reason,
            })
        };
        if self.memory_kib < Self::MIN_MEMORY_KIB {
            return refuse("memory below the 19 MiB minimum");
        }
        if self.memory_kib > Self::MAX_MEMORY_KIB {
            return refuse("memory above the 1 GiB maximum");
        }
        if self.iterations < Self::MIN_ITERATIONS {
            return refuse("fewer than 2 iterations");
        }
        if self.iterations > Self::MAX_ITERATIONS {
            return refuse("more than 10 iterations");
        }
        if self.parallelism == 0 || self.parallelism > Self::MAX_PARALLELISM {
            return refuse("parallelism outside 1..=8");
        }
        if u64::from(self.memory_kib) * u64::from(self.iterations) > Self::MAX_WORK_KIB_PASSES {
            return refuse("memory x iterations above the 2 GiB-pass work cap");
        }
        Ok(())
    }

    /// Derive the 256-bit key-wrapping key from a password and salt.
    pub(crate) fn derive(&self, password: &Password, salt: &[u8]) -> Result<DataKey, VaultError> {
        self.check()?;
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
            .map_err(|_| VaultError::Crypto("Argon2id parameters"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut out = [0u8; 32];
        argon
            .hash_password_into(password.expose_secret().as_bytes(), salt, &mut out)
            .map_err(|_| VaultError::Crypto("Argon2id derivation"))?;
        let key = DataKey::from_bytes(out);
        zeroize::Zeroize::zeroize(&mut out);
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_inside_the_window_and_at_least_owasp() {
        KdfParams::DEFAULT.check().expect("defaults accepted");
        const {
            assert!(KdfParams::DEFAULT.memory_kib >= 64 * 1024);
            assert!(KdfParams::DEFAULT.iterations >= 3);
        }
    }

    #[test]
    fn each_bound_is_enforced() {
        let base = KdfParams::DEFAULT;
        let cases = [
            KdfParams {
                memory_kib: 8 * 1024,
                ..base
            },
            KdfParams {
                memory_kib: 4 * 1024 * 1024,
                ..base
            },
            KdfParams {
                iterations: 1,
                ..base
            },
            KdfParams {
                iterations: 100,
                ..base
            },
            KdfParams {
                parallelism: 0,
                ..base
            },
            KdfParams {
                parallelism: 64,
                ..base
            },
            KdfParams {
                memory_kib: 1024 * 1024,
                iterations: 4,
                ..base
            },
        ];
        for params in cases {
            assert!(
                matches!(params.check(), Err(VaultError::UnsafeKdfParams { .. })),
                "{params} should be refused"
            );
        }
    }
}
