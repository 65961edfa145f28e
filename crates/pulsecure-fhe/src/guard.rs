//! `ServerKeyGuard`: the only place a server key is installed in tfhe's thread-local state.
//!
//! The circuit itself passes its shortint key explicitly and needs no installed key. tfhe's
//! high-level ciphertext types, however, may need one: a `CompressedFheUint` received from a
//! client can be of the modulus-switched kind, whose decompression bootstraps with the
//! thread-local key (and would panic without one). The guard runs such work on a dedicated
//! worker pool whose threads have exactly this evaluator's key installed, and uninstalls it on
//! drop, so no computation can run under another evaluator's key and none is left behind.

use rayon::{ThreadPool, ThreadPoolBuilder};
use tfhe::ServerKey;

use pulsecure_core::ports::fhe::FheError;

/// RAII scope with one server key installed on its own worker threads.
pub struct ServerKeyGuard {
    pool: ThreadPool,
}

impl ServerKeyGuard {
    /// Start `threads` workers and install `key` on each of them.
    pub fn install(key: &ServerKey, threads: usize) -> Result<Self, FheError> {
        let pool = ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("pulsecure-key-{i}"))
            .build()
            .map_err(|e| FheError::Evaluation(format!("starting key-scoped workers: {e}")))?;
        pool.broadcast(|_| tfhe::set_server_key(key.clone()));
        Ok(ServerKeyGuard { pool })
    }

    /// Run `f` on the guarded workers (any rayon work it spawns stays on them).
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.pool.install(f)
    }
}

impl Drop for ServerKeyGuard {
    fn drop(&mut self) {
        self.pool.broadcast(|_| tfhe::unset_server_key());
    }
}
