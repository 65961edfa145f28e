//! `pulsecure keys ...`: fingerprint, password change, server-key export.

use anyhow::{Context, Result};
use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_vault::{fingerprint, write_atomic};

use crate::cli::{ChangePasswordArgs, ExportServerKeyArgs};
use crate::password::{self, NEW_PASSWORD_ENV};
use crate::session::{open_database, DataDir, Unlocked};

/// `keys fingerprint`: the public server key's fingerprint (no password needed).
pub fn fingerprint_cmd(dir: &DataDir) -> Result<()> {
    dir.require_initialized()?;
    let bytes = std::fs::read(dir.server_key())
        .with_context(|| format!("reading {}", dir.server_key().display()))?;
    println!("{}", fingerprint(&bytes));
    Ok(())
}

/// `keys change-password`: re-wrap the data key under a new password.
pub fn change_password(dir: &DataDir, args: &ChangePasswordArgs) -> Result<()> {
    dir.require_initialized()?;
    let old = password::current(&args.password)?;
    // Check the old password before asking for a new one.
    let unlocked = Unlocked::open(dir, &old)?;
    let new = password::new_password(
        args.new_password_file.as_deref(),
        args.new_password_fd,
        args.password
            .insecure_env_password
            .then_some(NEW_PASSWORD_ENV),
    )?;
    pulsecure_vault::change_password(&dir.vault(), &old, &new, None)?;
    if dir.database().exists() {
        open_database(dir, &unlocked)?.log_event(AuditEvent::PasswordChanged, "")?;
    }
    println!("Password changed; the vault's data key was re-wrapped (payload unchanged).");
    Ok(())
}

/// `keys export-server-key`: copy the server key, verified against the vault's record.
pub fn export_server_key(dir: &DataDir, args: &ExportServerKeyArgs) -> Result<()> {
    let password = password::current(&args.password)?;
    let unlocked = Unlocked::open(dir, &password)?;
    let bytes = unlocked.server_key_bytes(dir)?;
    write_atomic(&args.out, &bytes)?;
    let db = open_database(dir, &unlocked)?;
    db.log_event(
        AuditEvent::ServerKeyExported,
        &format!("key set {}", fingerprint(&bytes)),
    )?;
    println!(
        "Server key written to {} ({} bytes, {}). It lets an evaluator compute, not decrypt.",
        args.out.display(),
        bytes.len(),
        fingerprint(&bytes)
    );
    Ok(())
}
