//! A throw-away evaluator process on a private Unix socket, for `pulsecure demo` and `bench`:
//! this binary re-run in its hidden `run-evaluator` mode — the evaluator's own library and
//! command line (`pulsecure_evaluator::cli`), never the vault — so the demo always runs the
//! evaluator of its own build (a `pulsecure-evaluator` left over from another build could
//! not read its keys). It gets its own data directory and is stopped with SIGTERM when
//! dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pulsecure_evaluator_client::{Connection, RemoteConfig};
use pulsecure_rpc::EvaluatorAddress;

use crate::error::CliError;

/// A running local evaluator.
pub struct LocalEvaluator {
    child: Option<Child>,
    /// The program that runs it (for the demo's report).
    pub program: String,
    /// Its socket.
    pub socket: PathBuf,
    /// Its data directory (keys it received).
    pub data_dir: PathBuf,
    log: PathBuf,
}

fn program() -> Result<(PathBuf, Vec<&'static str>), CliError> {
    let me = std::env::current_exe()
        .map_err(|e| CliError::LocalEvaluator(format!("locating this program: {e}")))?;
    Ok((me, vec!["run-evaluator"]))
}

fn private_dir(path: &Path) -> Result<(), CliError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| CliError::LocalEvaluator(format!("creating {}: {e}", path.display())))
}

impl LocalEvaluator {
    /// Start one under `dir` (a private directory) and wait until it answers.
    pub fn start(dir: &Path) -> Result<Self, CliError> {
        let (exe, prefix) = program()?;
        let run = dir.join("run");
        let data_dir = dir.join("evaluator");
        private_dir(&run)?;
        private_dir(&data_dir)?;
        let socket = run.join("evaluator.sock");
        let log = dir.join("evaluator.log");
        let log_file = std::fs::File::create(&log)
            .map_err(|e| CliError::LocalEvaluator(format!("creating its log: {e}")))?;
        let child = Command::new(&exe)
            .args(&prefix)
            .arg("serve")
            .arg("--listen")
            .arg(format!("unix:{}", socket.display()))
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--max-cached-keys")
            .arg("1")
            .env("PULSECURE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(|e| CliError::LocalEvaluator(format!("starting {}: {e}", exe.display())))?;
        let mut program = exe
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for word in &prefix {
            program.push(' ');
            program.push_str(word);
        }
        let mut local = LocalEvaluator {
            child: Some(child),
            program,
            socket,
            data_dir,
            log,
        };
        local.wait_ready()?;
        Ok(local)
    }

    fn wait_ready(&mut self) -> Result<(), CliError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(CliError::LocalEvaluator(format!(
                        "it exited ({status}): {}",
                        self.log_tail()
                    )));
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(CliError::LocalEvaluator(format!(
            "it did not start within 60 s: {}",
            self.log_tail()
        )))
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Its address.
    pub fn address(&self) -> EvaluatorAddress {
        EvaluatorAddress::Unix(self.socket.clone())
    }

    /// Connect to it.
    pub fn connect(&self) -> Result<Connection, CliError> {
        Connection::connect(RemoteConfig::new(self.address(), None))
            .map_err(|e| CliError::LocalEvaluator(format!("{e}: {}", self.log_tail())))
    }

    /// Stop it with SIGTERM (in-flight work finishes) and return its exit code.
    pub fn stop(mut self) -> Result<Option<i32>, CliError> {
        self.terminate()
    }

    fn terminate(&mut self) -> Result<Option<i32>, CliError> {
        let Some(mut child) = self.child.take() else {
            return Ok(None);
        };
        if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let status = child
            .wait()
            .map_err(|e| CliError::LocalEvaluator(format!("waiting for it to stop: {e}")))?;
        Ok(status.code())
    }
}

impl Drop for LocalEvaluator {
    fn drop(&mut self) {
        let _ = self.terminate();
    }
}
