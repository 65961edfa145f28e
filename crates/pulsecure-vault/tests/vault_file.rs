//! The vault file under attack and accident: every refusal is specific, and a refused
//! operation leaves the file byte-identical.

use std::path::{Path, PathBuf};

use pulsecure_vault::{
    change_password, create, inspect, open, open_bytes, DataKey, KdfParams, Password,
    SecretEntries, VaultError, FORMAT_VERSION,
};
use sha2::{Digest, Sha256};

/// The cheapest parameters `open` accepts, so the tests stay quick.
const FAST: KdfParams = KdfParams {
    memory_kib: KdfParams::MIN_MEMORY_KIB,
    iterations: KdfParams::MIN_ITERATIONS,
    parallelism: 1,
};

fn password(text: &str) -> Password {
    Password::from(text.to_string())
}

fn entries() -> SecretEntries {
    let mut e = SecretEntries::new();
    e.insert("tfhe-client-key", (0..200u8).collect())
        .expect("insert");
    e.insert("database-key", vec![0x5A; 32]).expect("insert");
    e
}

fn new_vault(dir: &Path) -> PathBuf {
    let path = dir.join("vault.psv");
    create(&path, &password("correct horse battery"), FAST, &entries()).expect("create");
    path
}

#[test]
fn round_trip_returns_every_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = new_vault(dir.path());
    let back = open(&path, &password("correct horse battery")).expect("open");
    assert_eq!(back.require("tfhe-client-key").expect("entry").len(), 200);
    assert_eq!(back.get("database-key"), Some(&[0x5A; 32][..]));
    assert!(matches!(
        back.require("absent"),
        Err(VaultError::MissingEntry(name)) if name == "absent"
    ));
}

#[test]
fn creating_over_an_existing_vault_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = new_vault(dir.path());
    let before = std::fs::read(&path).expect("read");
    let err = create(&path, &password("another long password"), FAST, &entries())
        .expect_err("must refuse");
    assert!(matches!(err, VaultError::AlreadyExists(_)), "{err}");
    assert_eq!(std::fs::read(&path).expect("read"), before);
}

#[test]
fn wrong_password_is_named_as_such() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = new_vault(dir.path());
    let err = open(&path, &password("not the password")).expect_err("must refuse");
    assert!(matches!(err, VaultError::WrongPassword), "{err}");
}

#[test]
fn short_passwords_are_refused_at_creation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = create(&dir.path().join("v"), &password("short"), FAST, &entries())
        .expect_err("must refuse");
    assert!(
        matches!(err, VaultError::PasswordTooShort { min: 12 }),
        "{err}"
    );
    assert!(!dir.path().join("v").exists());
}

/// Which error a flipped byte at `offset` must produce, by the format's regions.
fn expected_for_offset(offset: usize) -> fn(&VaultError) -> bool {
    match offset {
        0..=7 => |e| matches!(e, VaultError::BadMagic),
        8..=9 => |e| matches!(e, VaultError::UnsupportedVersion { .. }),
        10..=145 => |e| matches!(e, VaultError::HeaderCorrupted),
        146..=157 => |e| matches!(e, VaultError::PayloadCorrupted),
        158..=165 => |e| matches!(e, VaultError::BadLength { .. }),
        _ => |e| matches!(e, VaultError::PayloadCorrupted),
    }
}

#[test]
fn every_single_flipped_byte_is_refused_with_the_error_of_its_region() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = new_vault(dir.path());
    let original = std::fs::read(&path).expect("read");
    let pw = password("correct horse battery");
    for offset in 0..original.len() {
        let mut bytes = original.clone();
        bytes[offset] ^= 0x01;
        let err = match open_bytes(&bytes, &pw) {
            Ok(_) => panic!("flip at byte {offset} went unnoticed"),
            Err(e) => e,
        };
        assert!(expected_for_offset(offset)(&err), "byte {offset}: {err}");
    }
    // Opening never writes.
    assert_eq!(std::fs::read(&path).expect("read"), original);
}

#[test]
fn every_truncation_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = new_vault(dir.path());
    let original = std::fs::read(&path).expect("read");
    let pw = password("correct horse battery");
    for cut in 0..original.len() {
        let err = match open_bytes(&original[..cut], &pw) {
            Ok(_) => panic!("truncation to {cut} bytes went unnoticed"),
            Err(e) => e,
        };
        let ok = if cut < 8 {
            matches!(err, VaultError::BadMagic)
        } else {
            matches!(err, VaultError::BadLength { .. })
        };
        assert!(ok, "cut at {cut}: {err}");
    }
    let mut longer = original.clone();
    longer.push(0);
    assert!(matches!(
        open_bytes(&longer, &pw),
        Err(VaultError::BadLength { .. })
    ));
}

/// Rewrite the Argon2id parameters and fix the checksum, as a crafted file would.
fn with_kdf(original: &[u8], params: KdfParams) -> Vec<u8> {
    let mut bytes = original.to_vec();
    bytes[10..14].copy_from_slice(&params.memory_kib.to_be_bytes());
    bytes[14..18].copy_from_slice(&params.iterations.to_be_bytes());
    bytes[18..22].copy_from_slice(&params.parallelism.to_be_bytes());
    let digest = Sha256::digest(&bytes[..114]);
    bytes[114..146].copy_from_slice(&digest);
    bytes
}

#[test]
fn crafted_parameters_outside_the_window_are_refused_before_deriving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = new_vault(dir.path());
    let original = std::fs::read(&path).expect("read");
    let pw = password("correct horse battery");
    let too_weak = with_kdf(
        &original,
        KdfParams {
            memory_kib: 1024,
            ..FAST
        },
    );
    let too_costly = with_kdf(
        &original,
        KdfParams {
            memory_kib: 4 * 1024 * 1024,
            iterations: 4_000_000,
            parallelism: 1,
        },
    );
    for bytes in [too_weak, too_costly] {
        let err = open_bytes(&bytes, &pw).expect_err("must refuse");
        assert!(matches!(err, VaultError::UnsafeKdfParams { .. }), "{err}");
    }
    // Parameters inside the window but not the ones used: the KEK differs.
    let other = with_kdf(
        &original,
        KdfParams {
            iterations: 3,
            ..FAST
        },
    );
    assert!(matches!(
        open_bytes(&other, &pw),
        Err(VaultError::WrongPassword)
    ));
}

#[test]
fn change_password_rewraps_only_and_keeps_the_payload_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = new_vault(dir.path());
    let before = std::fs::read(&path).expect("read");
    let old = password("correct horse battery");
    let new = password("a different passphrase");
    change_password(&path, &old, &new, None).expect("change");
    let after = std::fs::read(&path).expect("read");
    assert_eq!(before[146..], after[146..], "payload section untouched");
    assert_ne!(
        before[22..114],
        after[22..114],
        "fresh salt, nonce and wrapped key"
    );
    assert!(matches!(open(&path, &old), Err(VaultError::WrongPassword)));
    let back = open(&path, &new).expect("open with the new password");
    assert_eq!(back.get("database-key"), Some(&[0x5A; 32][..]));
}

#[test]
fn change_password_can_raise_the_cost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = new_vault(dir.path());
    let stronger = KdfParams {
        iterations: 3,
        ..FAST
    };
    let new = password("a different passphrase");
    change_password(
        &path,
        &password("correct horse battery"),
        &new,
        Some(stronger),
    )
    .expect("change");
    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(bytes[14..18], 3u32.to_be_bytes());
    open(&path, &new).expect("opens");
}

#[test]
fn failed_password_changes_leave_the_vault_byte_identical() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = new_vault(dir.path());
    let before = std::fs::read(&path).expect("read");
    let right = password("correct horse battery");
    let attempts: Vec<(Password, Password, Option<KdfParams>)> = vec![
        (
            password("wrong password!!"),
            password("a different passphrase"),
            None,
        ),
        (password("correct horse battery"), password("short"), None),
        (
            password("correct horse battery"),
            password("a different passphrase"),
            Some(KdfParams {
                iterations: 1,
                ..FAST
            }),
        ),
    ];
    for (old, new, kdf) in attempts {
        assert!(change_password(&path, &old, &new, kdf).is_err());
        assert_eq!(std::fs::read(&path).expect("read"), before);
    }
    // A damaged payload is detected before re-keying, and nothing is written.
    let mut damaged = before.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0x80;
    std::fs::write(&path, &damaged).expect("write");
    let new = password("a different passphrase");
    let err = change_password(&path, &right, &new, None).expect_err("must refuse");
    assert!(matches!(err, VaultError::PayloadCorrupted), "{err}");
    assert_eq!(std::fs::read(&path).expect("read"), damaged);
}

#[test]
fn debug_output_of_secret_types_shows_no_key_bytes() {
    let key = DataKey::from_bytes([0xC3; 32]);
    let pw = password("hunter2hunter2");
    let shown = format!("{key:?} {pw:?} {:?}", entries());
    for needle in ["195", "c3", "C3", "hunter2", "90, 90", "5a"] {
        assert!(!shown.contains(needle), "{needle} leaked in {shown}");
    }
    let err = open(Path::new("/nonexistent/vault"), &pw).expect_err("missing file");
    assert!(!format!("{err:?} {err}").contains("hunter2"));
}

#[test]
fn inspect_reads_public_facts_without_the_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = new_vault(dir.path());
    let bytes = std::fs::read(&path).expect("read");
    let info = inspect(&bytes).expect("a valid vault inspects");
    assert_eq!(info.format_version, FORMAT_VERSION);
    assert_eq!(info.kdf, FAST);
    assert_eq!(info.payload_bytes, bytes.len() as u64 - 166);
    let mut damaged = bytes.clone();
    damaged[30] ^= 1;
    assert!(matches!(
        inspect(&damaged),
        Err(VaultError::HeaderCorrupted)
    ));
    assert!(matches!(
        inspect(&bytes[..100]),
        Err(VaultError::BadLength { .. })
    ));
}

#[test]
fn an_endless_file_is_refused_after_a_bounded_read() {
    // Read whole, /dev/zero never ends; the bounded read stops one byte past the largest
    // valid vault and names the length.
    match pulsecure_vault::open(Path::new("/dev/zero"), &password("whatever password")) {
        Err(VaultError::BadLength { expected, found }) => assert_eq!(found, expected + 1),
        other => panic!("expected BadLength, got {other:?}"),
    }
}
