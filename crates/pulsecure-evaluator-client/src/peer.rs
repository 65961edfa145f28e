//! Whom the client talks to on a Unix socket.
//!
//! Whoever listens on the socket path receives the clinician's requests and answers them;
//! the path alone proves nothing (another local user may have created the directory first,
//! or may be able to replace the socket in it). Before a request is sent, the client checks
//! the directory and the socket file, and — with `SO_PEERCRED`, which the kernel fills in —
//! the uid of the process actually serving the connection:
//! - by default, the serving process, the socket file and its directory belong to this user
//!   or root, and the directory is writable by no one else;
//! - with an expected uid (an evaluator running under an account of its own), the serving
//!   process runs as exactly that uid, the socket file and the directory belong to it, this
//!   user or root, and the directory is not writable by all;
//! - the fallback directory in the temporary directory (no `XDG_RUNTIME_DIR`) must be this
//!   user's own, mode 0700 ([`pulsecure_rpc::check_private_dir`]).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use tokio::net::UnixStream;

/// Why the client refused the other end of a socket (shown to the user as it is).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Untrusted(pub String);

/// The uids trusted for the socket's directory and file, and the one(s) for its server.
struct Trust {
    me: u32,
    expected: Option<u32>,
}

impl Trust {
    fn owner_ok(&self, uid: u32) -> bool {
        uid == self.me || uid == 0 || Some(uid) == self.expected
    }

    fn peer_ok(&self, uid: u32) -> bool {
        match self.expected {
            Some(expected) => uid == expected,
            None => uid == self.me || uid == 0,
        }
    }

    fn who(&self) -> String {
        match self.expected {
            Some(uid) => format!("the expected uid {uid}"),
            None => format!("this user (uid {}) or root", self.me),
        }
    }
}

/// Check the socket's directory and file before connecting (see the module documentation).
pub fn check_socket_path(path: &Path, expected: Option<u32>) -> Result<(), Untrusted> {
    let trust = Trust {
        me: rustix_uid(),
        expected,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if matches!(std::fs::symlink_metadata(dir), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
    {
        // Nothing listens there: "unreachable", reported by the connection attempt itself.
        return Ok(());
    }
    if dir == pulsecure_rpc::fallback_socket_dir() {
        pulsecure_rpc::check_private_dir(dir).map_err(|e| Untrusted(e.to_string()))?;
    }
    let meta = std::fs::metadata(dir)
        .map_err(|e| Untrusted(format!("the socket directory {}: {e}", dir.display())))?;
    if !trust.owner_ok(meta.uid()) {
        return Err(Untrusted(format!(
            "the socket directory {} belongs to uid {}, not to {}: another user could answer in the evaluator's place",
            dir.display(),
            meta.uid(),
            trust.who()
        )));
    }
    let mode = meta.permissions().mode() & 0o7777;
    let forbidden = if expected.is_some() { 0o002 } else { 0o022 };
    if mode & forbidden != 0 {
        return Err(Untrusted(format!(
            "the socket directory {} has mode {mode:04o}: other users can replace the socket in it",
            dir.display()
        )));
    }
    match std::fs::metadata(path) {
        Ok(meta) if !trust.owner_ok(meta.uid()) => Err(Untrusted(format!(
            "the socket {} belongs to uid {}, not to {}",
            path.display(),
            meta.uid(),
            trust.who()
        ))),
        // A missing socket is "unreachable", reported by the connection attempt itself.
        _ => Ok(()),
    }
}

/// Check the uid of the process serving `stream` (`SO_PEERCRED`).
pub fn check_peer(
    stream: &UnixStream,
    path: &Path,
    expected: Option<u32>,
) -> Result<(), Untrusted> {
    let trust = Trust {
        me: rustix_uid(),
        expected,
    };
    let cred = stream.peer_cred().map_err(|e| {
        Untrusted(format!(
            "cannot tell who serves {} (SO_PEERCRED: {e})",
            path.display()
        ))
    })?;
    if trust.peer_ok(cred.uid()) {
        Ok(())
    } else {
        Err(Untrusted(format!(
            "the process serving {} runs as uid {}, not as {}: nothing was sent to it \
             (an evaluator under another account needs --evaluator-uid)",
            path.display(),
            cred.uid(),
            trust.who()
        )))
    }
}

fn rustix_uid() -> u32 {
    rustix::process::getuid().as_raw()
}
