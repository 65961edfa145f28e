//! Measurement helpers for `pulsecure bench` and the criterion benches: the single-PBS floor
//! with the same key and parameters, and tfhe's own bootstrapping counter.

use std::time::{Duration, Instant};

use tfhe::shortint::server_key::pbs_stats;

use crate::backend::{Backend, Table};
use crate::{TfheClient, TfheEvaluator};

/// Time `n` single programmable bootstrappings (keyswitch + PBS) on this thread, with the
/// evaluator's key on a block encrypted by the client.
pub fn single_pbs(client: &TfheClient, evaluator: &TfheEvaluator, n: usize) -> Vec<Duration> {
    let backend = evaluator.backend();
    let mut identity: Table = [0; 16];
    for (x, v) in identity.iter_mut().enumerate() {
        *v = x as u64 % 4;
    }
    let lut = backend.lut(&identity);
    let mut block = client.encrypt_block(1);
    (0..n)
        .map(|_| {
            let t = Instant::now();
            block = backend.apply(&block, &lut);
            t.elapsed()
        })
        .collect()
}

/// Bootstrappings tfhe counted while running `f` (global counter: run nothing else meanwhile).
pub fn counted_pbs<T>(f: impl FnOnce() -> T) -> (T, u64) {
    pbs_stats::reset_pbs_count();
    let out = f();
    (out, pbs_stats::get_pbs_count())
}
