//! Helpers for tests that launch the binaries.

use std::process::Child;

/// A child process killed (and reaped) when dropped, so a failing test leaves none behind.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Resident set size of a process in kB (from /proc; 0 when it is gone).
pub fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// What [`serve_on_socket`] started.
pub struct Served {
    /// The evaluator process.
    pub child: Child,
    /// Its Unix socket.
    pub socket: std::path::PathBuf,
    /// Its stderr (appended).
    pub log: std::path::PathBuf,
}

/// Start `command` (an evaluator binary, or `pulsecure run-evaluator`) as `serve` on
/// `dir/run/evaluator.sock` (the run directory 0700, as the service demands) with data
/// directory `data` and `extra` arguments, stderr appended to `dir/evaluator.log`; returns
/// once the socket accepts a connection (panics with the log after a minute).
pub fn serve_on_socket(
    mut command: std::process::Command,
    dir: &std::path::Path,
    data: &std::path::Path,
    extra: &[&str],
) -> Served {
    use std::os::unix::fs::PermissionsExt;
    use std::time::{Duration, Instant};
    let run = dir.join("run");
    std::fs::create_dir_all(&run).expect("run dir");
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).expect("chmod 0700");
    let socket = run.join("evaluator.sock");
    let log = dir.join("evaluator.log");
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .expect("log");
    let mut child = command
        .arg("serve")
        .arg("--listen")
        .arg(format!("unix:{}", socket.display()))
        .arg("--data-dir")
        .arg(data)
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("start the evaluator");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the evaluator did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Served { child, socket, log }
}

/// `command` (an evaluator binary, or `pulsecure run-evaluator`) as a queue worker on `url`
/// with data directory `data`: one job at a time on one thread, polling every second,
/// stdout discarded. The caller adds what its test needs (worker id, lease, stderr).
pub fn queue_worker(
    mut command: std::process::Command,
    url: &str,
    data: &std::path::Path,
) -> std::process::Command {
    command
        .args(["worker", "--queue", url])
        .arg("--data-dir")
        .arg(data)
        .args([
            "--concurrency",
            "1",
            "--threads",
            "1",
            "--poll-seconds",
            "1",
        ])
        .stdout(std::process::Stdio::null());
    command
}
