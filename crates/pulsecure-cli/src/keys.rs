//! `pulsecure keys ...`: fingerprint, password change, server-key export (prompts and
//! printing; the operations are the workstation's).

use crate::progress::terminal_bar;
use pulsecure_app::keys::{
    export_server_key as export_key, rotate as rotate_keys, server_key_fingerprint, PasswordChange,
};
use pulsecure_app::DataDir;

use crate::cli::{ChangePasswordArgs, ExportServerKeyArgs, RotateArgs};
use crate::error::CliError;
use crate::password::{self, NEW_PASSWORD_ENV};

type Result<T> = std::result::Result<T, CliError>;

/// `keys fingerprint`: the public server key's fingerprint (no password needed).
pub fn fingerprint_cmd(dir: &DataDir) -> Result<()> {
    println!("{}", server_key_fingerprint(dir)?);
    Ok(())
}

/// `keys change-password`: re-wrap the data key under a new password.
pub fn change_password(dir: &DataDir, args: &ChangePasswordArgs) -> Result<()> {
    dir.require_initialized()?;
    let old = password::current(&args.password)?;
    // Check the old password before asking for a new one.
    let change = PasswordChange::begin(dir, &old)?;
    let new = password::new_password(
        args.new_password_file.as_deref(),
        args.new_password_fd,
        args.password
            .insecure_env_password
            .then_some(NEW_PASSWORD_ENV),
    )?;
    change.finish(&old, &new)?;
    println!("Password changed; the vault's data key was re-wrapped (payload unchanged).");
    println!(
        "An old copy of the vault still opens with the old password; run `pulsecure keys rotate` \
         if the old password may be known to someone."
    );
    Ok(())
}

/// `keys export-server-key`: copy the server key, verified against the vault's record.
pub fn export_server_key(dir: &DataDir, args: &ExportServerKeyArgs) -> Result<()> {
    let password = password::current(&args.password)?;
    let (len, print) = export_key(dir, &password, &args.out)?;
    println!(
        "Server key written to {} ({len} bytes, {print}). It lets an evaluator compute, not decrypt.",
        args.out.display()
    );
    Ok(())
}

/// `keys rotate`: new vault data key and database key, every row re-sealed (progress bar on
/// a terminal).
pub fn rotate(dir: &DataDir, args: &RotateArgs) -> Result<()> {
    dir.require_initialized()?;
    let password = password::current(&args.password)?;
    let bar = terminal_bar("re-sealing {bar:30} {pos}/{len} screenings");
    let report = rotate_keys(dir, &password, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    println!(
        "Keys rotated: new vault data key and database key; {} screening(s) re-sealed.",
        report.screenings
    );
    Ok(())
}
