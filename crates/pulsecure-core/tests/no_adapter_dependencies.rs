//! The core must not depend on any adapter crate (hexagonal rule), directly or transitively.

use std::process::Command;

const FORBIDDEN: &[&str] = &[
    "tfhe",
    "rusqlite",
    "ratatui",
    "crossterm",
    "opendp",
    "aes-gcm",
    "argon2",
    "ed25519-dalek",
    "minisign",
    "minisign-verify",
    "pulsecure-fhe",
    "pulsecure-store",
    "pulsecure-vault",
    "pulsecure-privacy",
    "pulsecure-signing",
    "pulsecure-tui",
    "clap",
    "tokio",
];

#[test]
fn core_dependency_tree_has_no_adapter() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "pulsecure-core",
            "-e",
            "normal",
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
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"serde"), "tree parsed: {tree}");
    for bad in FORBIDDEN {
        assert!(
            !crates.contains(bad),
            "pulsecure-core depends on adapter crate {bad}"
        );
    }
}
