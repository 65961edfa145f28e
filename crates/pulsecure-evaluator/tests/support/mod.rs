//! The real `pulsecure-evaluator` binary started for a test, stopped when dropped.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pulsecure_evaluator_client::{Connection, RemoteConfig};
use pulsecure_rpc::EvaluatorAddress;

/// A running evaluator.
pub struct EvaluatorProcess {
    pub child: Child,
    pub socket: PathBuf,
    pub log: PathBuf,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_pulsecure-evaluator")
}

impl EvaluatorProcess {
    /// Start on `dir/run/evaluator.sock` with `dir/data` as its data directory.
    pub fn start(dir: &Path, extra: &[&str]) -> Self {
        let run = dir.join("run");
        if !run.exists() {
            std::fs::create_dir_all(&run).expect("run dir");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).expect("0700");
        }
        let socket = run.join("evaluator.sock");
        let log = dir.join("evaluator.log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log");
        let child = Command::new(binary())
            .arg("serve")
            .arg("--listen")
            .arg(format!("unix:{}", socket.display()))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn the evaluator");
        let process = EvaluatorProcess { child, socket, log };
        process.wait_ready();
        process
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the evaluator did not start: {}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    pub fn address(&self) -> EvaluatorAddress {
        EvaluatorAddress::Unix(self.socket.clone())
    }

    pub fn connect(&self) -> Connection {
        Connection::connect(RemoteConfig::new(self.address(), None)).expect("connect")
    }

    /// SIGTERM, then wait for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
        let status = self.child.wait().expect("wait");
        std::mem::forget(self);
        status
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for EvaluatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use pulsecure_testkit::patients::{varied_patient, varied_patients};
#[allow(unused_imports)]
pub use pulsecure_testkit::processes::rss_kb;

/// `pulsecure-evaluator worker` on the queue at `url` as worker `name`, with its data
/// directory `dir/name`: one job at a time on one thread, polling every second.
pub fn worker_command(url: &str, name: &str, dir: &Path) -> Command {
    let mut command = Command::new(binary());
    command
        .args(["worker", "--queue", url, "--worker-id", name])
        .arg("--data-dir")
        .arg(dir.join(name))
        .args([
            "--concurrency",
            "1",
            "--threads",
            "1",
            "--poll-seconds",
            "1",
        ])
        .stdout(Stdio::null());
    command
}

pub mod hostile;
