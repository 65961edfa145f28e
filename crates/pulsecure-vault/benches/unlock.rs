//! Unlock time of a vault with the default Argon2id parameters (the cost a user waits for).

use criterion::{criterion_group, criterion_main, Criterion};
use pulsecure_vault::{create, open, KdfParams, Password, SecretEntries};

fn unlock(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("vault.psv");
    let password = Password::from("benchmark password".to_string());
    let mut entries = SecretEntries::new();
    entries.insert("database-key", vec![1; 32]).expect("insert");
    create(&path, &password, KdfParams::DEFAULT, &entries).expect("create");
    let mut group = c.benchmark_group("vault");
    group.sample_size(10);
    group.bench_function("unlock_default_params", |b| {
        b.iter(|| open(&path, &password).expect("open"))
    });
    group.finish();
}

criterion_group!(benches, unlock);
criterion_main!(benches);
