//! Where passwords come from: a no-echo terminal prompt, a file, an inherited file
//! descriptor, or (only with an explicit flag) an environment variable.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use pulsecure_vault::{Password, MIN_PASSWORD_CHARS};
use zeroize::Zeroizing;

use crate::cli::PasswordArgs;
use crate::error::CliError;

type Result<T> = std::result::Result<T, CliError>;

/// Environment variable read with `--insecure-env-password`.
pub const PASSWORD_ENV: &str = "PULSECURE_PASSWORD";
/// Environment variable for the new password of `keys change-password`.
pub const NEW_PASSWORD_ENV: &str = "PULSECURE_NEW_PASSWORD";

/// Longest password line read from a file or descriptor.
const MAX_PASSWORD_LINE: usize = 4096;

/// The first line of `reader`, read byte by byte into one buffer allocated at its largest
/// size and wiped on drop: no `BufReader` or growing `String` leaves an unwiped copy.
fn first_line(reader: impl std::io::Read, what: &str) -> Result<Password> {
    let mut line = Zeroizing::new(Vec::with_capacity(MAX_PASSWORD_LINE));
    let mut reader = reader.take(MAX_PASSWORD_LINE as u64);
    // One byte at a time: reading past the newline could consume what follows on a shared
    // descriptor, and a password is short.
    let mut byte = Zeroizing::new([0u8; 1]);
    loop {
        match reader.read(&mut *byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CliError::io(format!("reading the {what}"), e)),
        }
    }
    let text = std::str::from_utf8(&line)
        .map_err(|_| CliError::Password(format!("the {what} is not UTF-8 text")))?;
    let trimmed = text.trim_end_matches('\r');
    if trimmed.is_empty() {
        return Err(CliError::Password(format!("the {what} source is empty")));
    }
    Ok(Password::from(trimmed.to_string()))
}

fn from_file(path: &Path, what: &str) -> Result<Password> {
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::io(format!("opening the {what} file {}", path.display()), e))?;
    first_line(file, what)
}

fn from_fd(fd: u32, what: &str) -> Result<Password> {
    // /dev/fd/N reopens an inherited descriptor without unsafe code.
    from_file(&PathBuf::from(format!("/dev/fd/{fd}")), what)
}

fn from_env(var: &str) -> Result<Password> {
    let value =
        Zeroizing::new(std::env::var(var).map_err(|_| {
            CliError::Password(format!("--insecure-env-password: {var} is not set"))
        })?);
    Ok(Password::from(value.to_string()))
}

fn prompt(text: &str) -> Result<Password> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Password(
            "no password source: stdin is not a terminal; use --password-file, --password-fd \
             or (tests only) --insecure-env-password"
                .into(),
        ));
    }
    let typed = Zeroizing::new(
        rpassword::prompt_password(text).map_err(|e| CliError::io("reading the password", e))?,
    );
    Ok(Password::from(typed.to_string()))
}

/// Ask for the vault password (first source given) and open the data directory's records.
pub fn open_records(
    dir: &pulsecure_app::DataDir,
    args: &PasswordArgs,
) -> Result<pulsecure_app::Records> {
    let password = current(args)?;
    let records = pulsecure_app::Records::open(dir, &password)?;
    warn_if_recreated(&records);
    Ok(records)
}

/// Open the workstation, evaluating with `evaluator`, with a password already read.
pub fn open_workstation(
    dir: &pulsecure_app::DataDir,
    password: &Password,
    evaluator: pulsecure_app::EvaluatorChoice,
) -> Result<pulsecure_app::Workstation> {
    let workstation = pulsecure_app::Workstation::open(dir, password, evaluator)?;
    warn_if_recreated(workstation.records());
    Ok(workstation)
}

/// Say so when the database was missing and has been created anew at this unlock.
fn warn_if_recreated(records: &pulsecure_app::Records) {
    if records.database_recreated() {
        eprintln!(
            "warning: the database was missing and has been created anew. The model baseline \
             and the spent privacy budget were carried over from the vault; earlier screenings \
             and the audit log are not in it. Restore pulsecure.db from a backup if you have one."
        );
    }
}

/// The vault password, from the first source given.
pub fn current(args: &PasswordArgs) -> Result<Password> {
    if let Some(path) = &args.password_file {
        return from_file(path, "password");
    }
    if let Some(fd) = args.password_fd {
        return from_fd(fd, "password");
    }
    if args.insecure_env_password {
        return from_env(PASSWORD_ENV);
    }
    prompt("Vault password: ")
}

/// A new password (for `init` or a change): from a file, descriptor or the environment when
/// given, otherwise asked twice on the terminal.
pub fn new_password(
    file: Option<&Path>,
    fd: Option<u32>,
    env_var: Option<&str>,
) -> Result<Password> {
    use secrecy::ExposeSecret;
    let password = if let Some(path) = file {
        from_file(path, "new password")?
    } else if let Some(fd) = fd {
        from_fd(fd, "new password")?
    } else if let Some(var) = env_var {
        from_env(var)?
    } else {
        let first = prompt(&format!(
            "New vault password (at least {MIN_PASSWORD_CHARS} characters): "
        ))?;
        let second = prompt("Repeat the new password: ")?;
        if first.expose_secret() != second.expose_secret() {
            return Err(CliError::Password(
                "the two passwords differ; nothing was changed".into(),
            ));
        }
        first
    };
    if password.expose_secret().chars().count() < MIN_PASSWORD_CHARS {
        return Err(pulsecure_vault::VaultError::PasswordTooShort {
            min: MIN_PASSWORD_CHARS,
        }
        .into());
    }
    Ok(password)
}

/// A new password from the sources of `args` (file, descriptor, environment with the
/// explicit flag), otherwise asked twice on the terminal.
pub fn new_from_args(args: &PasswordArgs) -> Result<Password> {
    new_password(
        args.password_file.as_deref(),
        args.password_fd,
        args.insecure_env_password.then_some(PASSWORD_ENV),
    )
}
