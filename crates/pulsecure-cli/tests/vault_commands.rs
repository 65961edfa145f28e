//! `init` and `keys ...` through the real binary: the vault on disk, password changes and
//! their failure modes (wrong password, altered file, full or read-only disk).

mod support;

use support::{assert_fails, assert_ok, stdout, Env};

#[test]
fn init_creates_private_files_and_refuses_to_run_twice() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::initialized();
    for name in ["vault.psv", "server-key.bin", "pulsecure.db"] {
        let mode = std::fs::metadata(env.data.join(name))
            .expect(name)
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{name} is readable by others: {mode:o}");
    }
    let vault = std::fs::read(env.data.join("vault.psv")).expect("vault");
    assert_eq!(&vault[..8], b"PULSEVLT");
    let again = env.run(&["init"], true);
    assert_fails(&again, 1, "already holds a vault");
    assert_eq!(
        std::fs::read(env.data.join("vault.psv")).expect("vault"),
        vault
    );
}

#[test]
fn short_passwords_are_refused_and_nothing_is_created() {
    let env = Env::new();
    let short = env.write("short", b"tooshort\n");
    let out = env.run_with_password_file(&["init"], &short);
    assert_fails(&out, 3, "at least 12 characters");
    assert!(!env.data.join("vault.psv").exists());
}

#[test]
fn fingerprint_export_and_password_change() {
    let env = Env::initialized();
    let fp = env.run(&["keys", "fingerprint"], false);
    assert_ok(&fp);
    let fingerprint = stdout(&fp).trim().to_string();
    assert!(
        fingerprint.starts_with("SHA256:") && fingerprint.len() == 46,
        "{fingerprint}"
    );

    let exported = env.path("server.key");
    let out = env
        .command()
        .args(["keys", "export-server-key", "--out"])
        .arg(&exported)
        .arg("--password-file")
        .arg(&env.password_file)
        .output()
        .expect("runs");
    assert_ok(&out);
    assert_eq!(
        std::fs::read(&exported).expect("exported"),
        std::fs::read(env.data.join("server-key.bin")).expect("original")
    );
    assert!(stdout(&out).contains(&fingerprint));

    let new_password = env.write("new", b"an entirely new passphrase\n");
    let vault_before = std::fs::read(env.data.join("vault.psv")).expect("vault");
    let out = env
        .command()
        .args(["keys", "change-password", "--new-password-file"])
        .arg(&new_password)
        .arg("--password-file")
        .arg(&env.password_file)
        .output()
        .expect("runs");
    assert_ok(&out);
    let vault_after = std::fs::read(env.data.join("vault.psv")).expect("vault");
    assert_eq!(vault_before[146..], vault_after[146..], "payload re-used");
    // The old password no longer opens it; the new one does.
    let old = env.run(&["history"], true);
    assert_fails(&old, 4, "wrong password");
    let out = env.run_with_password_file(&["history"], &new_password);
    assert_ok(&out);
}

#[test]
fn wrong_password_and_altered_vault_are_refused_without_changes() {
    let env = Env::initialized();
    let wrong = env.write("wrong", b"not the right password\n");
    let out = env.run_with_password_file(&["history"], &wrong);
    assert_fails(&out, 4, "wrong password");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("not the right"));

    let path = env.data.join("vault.psv");
    let mut bytes = std::fs::read(&path).expect("vault");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).expect("tamper");
    let new_password = env.write("new", b"an entirely new passphrase\n");
    let out = env
        .command()
        .args(["keys", "change-password", "--new-password-file"])
        .arg(&new_password)
        .arg("--password-file")
        .arg(&env.password_file)
        .output()
        .expect("runs");
    assert_fails(&out, 4, "payload is corrupted");
    assert_eq!(std::fs::read(&path).expect("vault"), bytes);
}

/// Run `keys change-password` with the vault on a tiny tmpfs (own mount namespace via
/// `unshare -rm`), after `setup` (shell) has run there. Returns the binary's output and
/// the vault bytes before and after, as seen inside the namespace.
fn change_password_on_tmpfs(env: &Env, size_kib: u64, setup: &str) -> (String, Vec<u8>, Vec<u8>) {
    let mount = env.path("mnt");
    std::fs::create_dir_all(&mount).expect("mount point");
    std::fs::write(env.path("new"), "an entirely new passphrase\n").expect("new password");
    let script = format!(
        "set -e
         mount -t tmpfs -o size={size_kib}k,mode=0700 tmpfs {mnt}
         cp {data}/vault.psv {mnt}/
         {setup}
         cp {mnt}/vault.psv {tmp}/before.psv
         set +e
         {bin} --data-dir {mnt} keys change-password --password-file {pw} --new-password-file {tmp}/new
         echo \"exit=$?\"
         cp {mnt}/vault.psv {tmp}/after.psv
         ls -a {mnt}",
        mnt = mount.display(),
        data = env.data.display(),
        tmp = env.tmp.path().display(),
        bin = env!("CARGO_BIN_EXE_pulsecure"),
        pw = env.password_file.display(),
    );
    let text = support::run_in_mount_namespace(&script);
    let before = std::fs::read(env.path("before.psv")).expect("before");
    let after = std::fs::read(env.path("after.psv")).expect("after");
    (text, before, after)
}

#[test]
fn a_full_disk_during_password_change_leaves_the_vault_intact() {
    let env = Env::initialized();
    let vault_len = std::fs::metadata(env.data.join("vault.psv"))
        .expect("vault")
        .len();
    // Room for the vault plus less than one more copy of it.
    let size_kib = vault_len.div_ceil(4096) * 4 + 4;
    let (text, before, after) = change_password_on_tmpfs(&env, size_kib, "");
    assert!(text.contains("exit=1") || text.contains("exit=6"), "{text}");
    assert!(text.contains("No space left"), "{text}");
    assert_eq!(before, after, "vault byte-identical");
    assert!(
        !text.lines().any(|l| l.starts_with(".vault.psv.tmp")),
        "temporary file removed: {text}"
    );
}

#[test]
fn a_read_only_directory_during_password_change_leaves_the_vault_intact() {
    let env = Env::initialized();
    let mount = env.path("mnt");
    let (text, before, after) = change_password_on_tmpfs(
        &env,
        64 * 1024 + 1024,
        &format!("mount -o remount,ro {}", mount.display()),
    );
    assert!(text.contains("Read-only file system"), "{text}");
    assert_eq!(before, after);
}

#[test]
fn password_from_a_descriptor_or_an_explicitly_allowed_environment_variable() {
    let env = Env::initialized();
    let script = format!(
        "{} --data-dir {} history --password-fd 3 3< {}",
        env!("CARGO_BIN_EXE_pulsecure"),
        env.data.display(),
        env.password_file.display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .expect("sh");
    assert_ok(&out);
    // The environment variable is read only with the explicit flag.
    let password = std::fs::read_to_string(&env.password_file).expect("password");
    let out = env
        .command()
        .args(["history", "--insecure-env-password"])
        .env("PULSECURE_PASSWORD", password.trim())
        .output()
        .expect("runs");
    assert_ok(&out);
    let out = env
        .command()
        .arg("history")
        .env("PULSECURE_PASSWORD", password.trim())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("runs");
    assert_fails(&out, 1, "no password source");
}

#[test]
fn the_data_directory_and_its_files_are_kept_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::initialized();
    let mode = |p: &std::path::Path| {
        std::fs::symlink_metadata(p)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777
    };
    // A directory open to the group is refused before the vault is read.
    std::fs::set_permissions(&env.data, std::fs::Permissions::from_mode(0o750)).expect("chmod");
    assert_fails(&env.run(&["history"], true), 1, "group and other users");
    std::fs::set_permissions(&env.data, std::fs::Permissions::from_mode(0o700)).expect("chmod");

    // An existing log file made readable by others is made private again.
    let log = env.data.join("pulsecure.log");
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    // A deleted database is re-created 0600 (not with the umask's mode).
    std::fs::remove_file(env.data.join("pulsecure.db")).expect("rm db");
    assert_ok(&env.run(&["history"], true));
    assert_eq!(mode(&log), 0o600, "log");
    assert_eq!(mode(&env.data.join("pulsecure.db")), 0o600, "database");

    // A log path that is a symbolic link is not followed.
    let target = env.path("elsewhere.log");
    std::fs::write(&target, b"").expect("target");
    std::fs::remove_file(&log).expect("rm log");
    std::os::unix::fs::symlink(&target, &log).expect("symlink");
    assert_ok(&env.run(&["history"], true));
    assert_eq!(
        std::fs::read(&target).expect("target").len(),
        0,
        "nothing written through the link"
    );

    // `init` does not adopt a database it did not create.
    let other = Env::new();
    std::fs::create_dir(&other.data).expect("dir");
    std::fs::set_permissions(&other.data, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::fs::write(other.data.join("pulsecure.db"), b"").expect("stray db");
    assert_fails(
        &other.run(
            &["init", "--kdf-memory-mib", "19", "--kdf-iterations", "2"],
            true,
        ),
        1,
        "refusing to adopt it",
    );
}
