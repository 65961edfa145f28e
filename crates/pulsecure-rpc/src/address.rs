//! Where the evaluator listens and where a client finds it.
//!
//! A Unix socket is the default on one host; TCP exists only with mutual TLS (the server
//! refuses to listen on plain TCP and the client only speaks `https://`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// An address that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    /// Neither `unix:PATH` nor the other accepted form.
    #[error("{given:?} is not an evaluator address: expected {expected}")]
    Unrecognised {
        /// The text given (an address, never patient data).
        given: String,
        /// The accepted forms.
        expected: &'static str,
    },
    /// The socket's directory is not one only this user controls (another user could have
    /// created it, or can replace the socket in it).
    #[error("the socket directory {dir} {reason}: refusing to use it (another local user could answer in the evaluator's place)")]
    UnsafeDirectory {
        /// The directory.
        dir: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Where a client reaches the evaluator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EvaluatorAddress {
    /// A Unix socket on this host.
    Unix(PathBuf),
    /// A remote evaluator over mutual TLS: `https://HOST:PORT`.
    Https(String),
}

impl std::str::FromStr for EvaluatorAddress {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, AddressError> {
        if let Some(path) = text.strip_prefix("unix:") {
            if !path.is_empty() {
                return Ok(EvaluatorAddress::Unix(PathBuf::from(path)));
            }
        } else if let Some(rest) = text.strip_prefix("https://") {
            if !rest.is_empty() && !rest.contains('/') {
                return Ok(EvaluatorAddress::Https(text.to_string()));
            }
        }
        Err(AddressError::Unrecognised {
            given: text.to_string(),
            expected: "unix:PATH or https://HOST:PORT",
        })
    }
}

impl std::fmt::Display for EvaluatorAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvaluatorAddress::Unix(path) => write!(f, "unix:{}", path.display()),
            EvaluatorAddress::Https(url) => f.write_str(url),
        }
    }
}

/// Where the evaluator listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddress {
    /// A Unix socket (mode 0660) in a directory others cannot enter.
    Unix(PathBuf),
    /// TCP, served only with TLS and client-certificate authentication.
    Tcp(SocketAddr),
}

impl std::str::FromStr for ListenAddress {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, AddressError> {
        let unrecognised = || AddressError::Unrecognised {
            given: text.to_string(),
            expected: "unix:PATH or tcp:HOST:PORT",
        };
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(unrecognised());
            }
            return Ok(ListenAddress::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = text.strip_prefix("tcp:") {
            return addr
                .parse()
                .map(ListenAddress::Tcp)
                .map_err(|_| unrecognised());
        }
        Err(unrecognised())
    }
}

impl std::fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddress::Unix(path) => write!(f, "unix:{}", path.display()),
            ListenAddress::Tcp(addr) => write!(f, "tcp:{addr}"),
        }
    }
}

/// The socket both sides use when none is given: `$XDG_RUNTIME_DIR/pulsecure/evaluator.sock`,
/// else `/tmp/pulsecure-UID/evaluator.sock` (see [`fallback_socket_dir`]).
pub fn default_socket_path() -> PathBuf {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(runtime) if !runtime.is_empty() => PathBuf::from(runtime).join("pulsecure"),
        _ => fallback_socket_dir(),
    };
    dir.join("evaluator.sock")
}

/// The directory of the default socket without `XDG_RUNTIME_DIR`: `pulsecure-UID` in the
/// temporary directory. Anyone can create that name first, so both sides use it only when it
/// passes [`check_private_dir`].
pub fn fallback_socket_dir() -> PathBuf {
    std::env::temp_dir().join(format!("pulsecure-{}", rustix::process::getuid().as_raw()))
}

/// Refuse `dir` unless only this user controls it: a directory itself (not a symbolic link),
/// owned by this user, with no access for group or others (mode 0700).
pub fn check_private_dir(dir: &Path) -> Result<(), AddressError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let unsafe_dir = |reason: String| AddressError::UnsafeDirectory {
        dir: dir.to_path_buf(),
        reason,
    };
    let meta =
        std::fs::symlink_metadata(dir).map_err(|e| unsafe_dir(format!("cannot be read ({e})")))?;
    if !meta.is_dir() {
        return Err(unsafe_dir("is not a directory".into()));
    }
    let me = rustix::process::getuid().as_raw();
    if meta.uid() != me {
        return Err(unsafe_dir(format!(
            "belongs to uid {}, not to this user (uid {me})",
            meta.uid()
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(unsafe_dir(format!(
            "has mode {mode:04o}, not 0700 (others can enter or write it)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_print_back() {
        for text in ["unix:/run/p/e.sock", "https://evaluator.example:7443"] {
            let a: EvaluatorAddress = text.parse().expect("valid");
            assert_eq!(a.to_string(), text);
        }
        for text in ["unix:/run/p/e.sock", "tcp:127.0.0.1:7443", "tcp:[::1]:7443"] {
            let a: ListenAddress = text.parse().expect("valid");
            assert_eq!(a.to_string(), text);
        }
    }

    #[test]
    fn plain_tcp_and_http_are_not_addresses() {
        for text in [
            "http://h:1",
            "tcp:h:1",
            "unix:",
            "https://",
            "h:1",
            "https://h:1/x",
        ] {
            assert!(text.parse::<EvaluatorAddress>().is_err(), "{text}");
        }
        for text in ["tcp:evaluator:1", "https://h:1", "unix:", "127.0.0.1:1"] {
            assert!(text.parse::<ListenAddress>().is_err(), "{text}");
        }
    }
}
