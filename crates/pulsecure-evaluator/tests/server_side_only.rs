//! The evaluator holds server keys and models only: it must not depend on the vault, the
//! clinic's database, the privacy or batch crates, the front ends, or the client side of the
//! TFHE adapter (key generation, the client key, encryption, decryption).

use std::process::Command;

const FORBIDDEN: &[&str] = &[
    "pulsecure-vault",
    "pulsecure-store",
    "pulsecure-privacy",
    "pulsecure-batch-input",
    "pulsecure-app",
    "pulsecure-tui",
    "pulsecure-cli",
    "pulsecure-evaluator-client",
    "rusqlite",
    "opendp",
    "argon2",
    "aes-gcm",
    "ratatui",
];

#[test]
fn the_evaluator_depends_on_no_client_side_crate_or_feature() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "pulsecure-evaluator",
            "-e",
            "normal,features",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("pulsecure-fhe"), "the tree was read: {tree}");
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        assert!(
            !FORBIDDEN.contains(&name),
            "the evaluator depends on {name}"
        );
        assert!(
            !(line.starts_with("pulsecure-fhe feature \"client\"")
                || line.starts_with("pulsecure-fhe feature \"default\"")),
            "the evaluator enables the TFHE client side: {line}"
        );
    }
}
