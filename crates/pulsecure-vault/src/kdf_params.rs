//! Argon2id cost parameters as the vault header stores them, and the window a vault's
//! parameters must fall in (checked in `kdf.rs`). A leaf: the error type names them.

/// Argon2id cost parameters, stored in the vault header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Number of passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl std::fmt::Display for KdfParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "(memory {} KiB, {} iterations, parallelism {})",
            self.memory_kib, self.iterations, self.parallelism
        )
    }
}

impl KdfParams {
    /// Defaults for new vaults: 128 MiB, 3 passes, 1 lane — above OWASP's 64 MiB / 3
    /// recommendation; one derivation takes a few hundred milliseconds on the 2-core
    /// reference machine (see `docs/vault-format.md` for the measured figure).
    pub const DEFAULT: KdfParams = KdfParams {
        memory_kib: 128 * 1024,
        iterations: 3,
        parallelism: 1,
    };

    /// Smallest memory accepted when opening: 19 MiB (OWASP's minimum for Argon2id).
    pub const MIN_MEMORY_KIB: u32 = 19 * 1024;
    /// Largest memory accepted: 1 GiB.
    pub const MAX_MEMORY_KIB: u32 = 1024 * 1024;
    /// Fewest passes accepted.
    pub const MIN_ITERATIONS: u32 = 2;
    /// Most passes accepted.
    pub const MAX_ITERATIONS: u32 = 10;
    /// Most lanes accepted (the `argon2` crate runs them on one thread here).
    pub const MAX_PARALLELISM: u32 = 8;
    /// Cap on memory × passes, in KiB-passes: 2 GiB·passes, a few seconds at most here.
    pub const MAX_WORK_KIB_PASSES: u64 = 2 * 1024 * 1024;
}
