//! `ServerKeyGuard`: work inside the guard runs under exactly its key, on several threads and
//! concurrently with another guard's key; outside it no key is installed.

use std::panic::{catch_unwind, AssertUnwindSafe};

use tfhe::prelude::{FheDecrypt, FheEncrypt};
use tfhe::FheUint2;

use pulsecure_fhe::guard::ServerKeyGuard;
use pulsecure_fhe::keys::config;

#[test]
fn concurrent_guards_with_different_keys_never_mix_and_leave_nothing_installed() {
    let sets: Vec<_> = (0..2).map(|_| tfhe::generate_keys(config())).collect();
    std::thread::scope(|scope| {
        for round in 0..4 {
            let (client, server) = &sets[round % 2];
            scope.spawn(move || {
                let guard = ServerKeyGuard::install(server, 2).expect("guard");
                let a = FheUint2::encrypt(1u8, client);
                let b = FheUint2::encrypt(round as u8 % 3, client);
                // Several operations, spread over the guard's two workers.
                let sums: Vec<FheUint2> = guard.run(|| {
                    use rayon::prelude::*;
                    (0..4).into_par_iter().map(|_| &a + &b).collect()
                });
                for s in sums {
                    let v: u8 = s.decrypt(client);
                    assert_eq!(v, 1 + round as u8 % 3);
                }
            });
        }
    });
    // This thread never had a key: a high-level operation here must fail, not use a stale key.
    let (client, _) = &sets[0];
    let a = FheUint2::encrypt(1u8, client);
    let outside = catch_unwind(AssertUnwindSafe(|| &a + &a));
    assert!(
        outside.is_err(),
        "an operation outside any guard found a server key"
    );
}
