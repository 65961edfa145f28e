//! The real `pulsecure-evaluator` binary started for a test, stopped when dropped.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

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
        let served = pulsecure_testkit::processes::serve_on_socket(
            Command::new(binary()),
            dir,
            &dir.join("data"),
            extra,
        );
        EvaluatorProcess {
            child: served.child,
            socket: served.socket,
            log: served.log,
        }
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
    let mut command =
        pulsecure_testkit::processes::queue_worker(Command::new(binary()), url, &dir.join(name));
    command.args(["--worker-id", name]);
    command
}

pub mod hostile;
