//! Where and how much the binary logs (see docs/logging.md): `PULSECURE_LOG` sets the level
//! (default `info`), `PULSECURE_LOG_FILE` the destination (`-` for stderr). Without it, logs
//! go to `<data-dir>/pulsecure.log` (mode 0600) once the data directory exists, and nowhere
//! before. Every line passes pulsecure-logging's guards: no patient or secret field, and
//! redaction of key-like and identifying patterns.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_core::Model;
use pulsecure_logging::{subscriber, DEFAULT_LEVEL};

/// Level variable.
pub const LEVEL_ENV: &str = "PULSECURE_LOG";
/// Destination variable.
pub const FILE_ENV: &str = "PULSECURE_LOG_FILE";
/// The log file's name inside the data directory.
pub const FILE_NAME: &str = "pulsecure.log";

/// Where log lines go.
enum Destination {
    /// Standard error (`PULSECURE_LOG_FILE=-`).
    Stderr,
    /// A file (`PULSECURE_LOG_FILE`, or the data directory's log).
    File(PathBuf),
    /// Nowhere (no data directory yet and no file asked for).
    Off,
}

fn destination(data_dir: Option<&Path>) -> Destination {
    match std::env::var_os(FILE_ENV) {
        Some(v) if v == "-" => Destination::Stderr,
        Some(v) => Destination::File(PathBuf::from(v)),
        None => match data_dir.filter(|d| d.is_dir()) {
            Some(d) => Destination::File(d.join(FILE_NAME)),
            None => Destination::Off,
        },
    }
}

/// Install the global subscriber. Logging problems never stop a command: a log file that
/// cannot be opened is reported once on stderr and logging is then off.
pub fn init(data_dir: Option<&Path>) {
    let level = std::env::var(LEVEL_ENV).unwrap_or_else(|_| DEFAULT_LEVEL.to_string());
    let features: Vec<String> = Model::from_json(DEFAULT_MODEL_JSON)
        .map(|m| m.features().iter().map(|f| f.name.clone()).collect())
        .unwrap_or_default();
    let result = match destination(data_dir) {
        Destination::Off => return,
        Destination::Stderr => {
            tracing::subscriber::set_global_default(subscriber(&level, features, std::io::stderr))
        }
        Destination::File(path) => {
            // Never through a symbolic link; an existing file is made private too (the mode
            // passed here applies only to a new file).
            let opened = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(&path)
                .and_then(|f| {
                    // Only a regular file: PULSECURE_LOG_FILE may name a device (/dev/null).
                    use std::os::unix::fs::PermissionsExt;
                    if f.metadata()?.is_file() {
                        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
                    }
                    Ok(f)
                });
            let file = match opened {
                Ok(f) => f,
                Err(e) => {
                    eprintln!(
                        "warning: logging disabled: cannot open {}: {e}",
                        path.display()
                    );
                    return;
                }
            };
            tracing::subscriber::set_global_default(subscriber(&level, features, Mutex::new(file)))
        }
    };
    if result.is_err() {
        eprintln!("warning: logging was already set up");
    }
}
