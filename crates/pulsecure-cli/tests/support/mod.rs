//! Helpers shared by the end-to-end tests: a data directory initialized by the real binary.

#![allow(dead_code)]

pub mod queue;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

/// The password the tests use.
pub const PASSWORD: &str = "correct horse battery staple";

/// The CSV header of the embedded model (cvd-lr v3: its population's `known_cvd`, then its
/// features).
pub const HEADER: &str =
    "patient_id,known_cvd,age,told_diabetes,systolic_bp,current_smoker,male,told_high_bp";

/// A data directory in a temporary folder, with a password file beside it.
pub struct Env {
    /// Keeps the folder alive.
    pub tmp: tempfile::TempDir,
    /// The data directory.
    pub data: PathBuf,
    /// File holding [`PASSWORD`].
    pub password_file: PathBuf,
}

impl Env {
    /// A fresh, not yet initialized environment.
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        let password_file = tmp.path().join("password");
        std::fs::write(&password_file, format!("{PASSWORD}\n")).expect("password file");
        Env {
            tmp,
            data,
            password_file,
        }
    }

    /// Initialized with the cheapest accepted Argon2id cost (tests only).
    pub fn initialized() -> Self {
        let env = Env::new();
        let out = env.run(
            &["init", "--kdf-memory-mib", "19", "--kdf-iterations", "2"],
            true,
        );
        assert_ok(&out);
        env
    }

    /// The binary with this data directory.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pulsecure"));
        cmd.arg("--data-dir").arg(&self.data);
        cmd.env_remove("PULSECURE_PASSWORD");
        // Every end-to-end run logs everything it can, into <data>/pulsecure.log, so the
        // log-hygiene checks see the most the program would ever write.
        cmd.env("PULSECURE_LOG", "trace")
            .env_remove("PULSECURE_LOG_FILE");
        // These tests are about the clinician's side (storage, vault, statistics): they
        // evaluate in-process, the explicit offline choice. The evaluator service has its
        // own end-to-end tests (remote_evaluator.rs).
        cmd.env("PULSECURE_EVALUATOR", "in-process");
        cmd
    }

    /// The log the runs wrote (empty if none).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.data.join("pulsecure.log")).unwrap_or_default()
    }

    /// Assert the log holds none of `needles` (patient values, references, the password).
    pub fn assert_log_free_of(&self, needles: &[&str]) {
        let log = self.log_text();
        assert!(!log.is_empty(), "the runs wrote no log at all");
        for needle in needles {
            assert!(
                !log.contains(needle),
                "`{needle}` appears in the log:\n{log}"
            );
        }
        assert!(!log.contains(PASSWORD), "the password appears in the log");
    }

    /// Run `args`, adding `--password-file` when `with_password`.
    pub fn run(&self, args: &[&str], with_password: bool) -> Output {
        let mut cmd = self.command();
        cmd.args(args);
        if with_password {
            cmd.arg("--password-file").arg(&self.password_file);
        }
        cmd.output().expect("binary runs")
    }

    /// Run `args` with `--password-file FILE` (another password than the default one).
    pub fn run_with_password_file(&self, args: &[&str], file: &Path) -> Output {
        self.command()
            .args(args)
            .arg("--password-file")
            .arg(file)
            .output()
            .expect("binary runs")
    }

    /// A file in the temporary folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Write `content` to a file in the temporary folder.
    pub fn write(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, content).expect("write");
        path
    }
}

/// The same object refused alike by `screen --json` (`single`, whose error reads after
/// `--json, `: `single_says`) and as batch row `row` (after `row N, `: `batch_says`): exit 3,
/// the same text starting with `reason`, and no value of the test objects echoed.
pub fn assert_same_refusal(
    row: usize,
    single: &Output,
    single_says: Option<&str>,
    batch_says: Option<&str>,
    reason: &str,
) {
    let stderr = String::from_utf8_lossy(&single.stderr);
    assert_eq!(single.status.code(), Some(3), "case {row}: {stderr}");
    let single_says = single_says.unwrap_or_else(|| panic!("case {row}: {stderr}"));
    assert!(single_says.starts_with(reason), "case {row}: {stderr}");
    assert_eq!(
        Some(single_says),
        batch_says,
        "case {row}: the same refusal"
    );
    assert!(!single_says.contains("Jane") && !single_says.contains("1961"));
}

/// Assert success, showing stderr otherwise.
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Assert a specific exit code and that stderr mentions `needle`.
pub fn assert_fails(out: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
}

/// Stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Row count of the screenings table, read directly.
pub fn stored_rows(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open db");
    conn.query_row("SELECT count(*) FROM screenings", [], |r| r.get(0))
        .expect("count")
}

/// How many entries of `event` the audit log of `env` holds (the event names are stored in
/// clear; only the details are sealed).
pub fn audit_events(env: &Env, event: &str) -> i64 {
    let conn = rusqlite::Connection::open(env.data.join("pulsecure.db")).expect("open db");
    conn.query_row(
        "SELECT count(*) FROM audit_log WHERE event = ?1",
        [event],
        |r| r.get(0),
    )
    .expect("count audit entries")
}

/// A valid CSV row for `id` (values vary with `i`).
pub fn good_row(id: &str, i: usize) -> String {
    let values = pulsecure_testkit::patients::varied_values(i);
    let cells: Vec<String> = values.iter().map(f64::to_string).collect();
    format!("{id},0,{}", cells.join(","))
}

/// Write the batch file `name` of `count` valid rows `{prefix}000`, `{prefix}001`, … (values
/// spread by `spread`).
pub fn batch_file(env: &Env, name: &str, prefix: &str, count: usize, spread: usize) -> PathBuf {
    let mut csv = format!("{HEADER}\n");
    for i in 0..count {
        csv.push_str(&good_row(&format!("{prefix}{i:03}"), i * spread));
        csv.push('\n');
    }
    env.write(name, csv.as_bytes())
}

/// `patient_id,risk_class,probability_code` of each screened row of a results CSV, sorted.
pub fn outcomes(csv: &str) -> Vec<String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (id, class, code) = (at("patient_id"), at("risk_class"), at("probability_code"));
    let mut rows: Vec<String> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{},{},{}", f[id], f[class], f[code])
        })
        .collect();
    rows.sort();
    rows
}

/// Run a shell script as root of its own user and mount namespace (`unshare -rm`), so it can
/// mount a tmpfs; returns stdout and stderr together. The script itself must succeed.
pub fn run_in_mount_namespace(script: &str) -> String {
    let out = Command::new("unshare")
        .args(["-rm", "sh", "-c", script])
        .output()
        .expect("unshare runs (util-linux)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "namespace script failed: {text}");
    text
}

/// Wait until the current second is over: a statistics release covers the screenings made
/// before the second it starts in.
pub fn let_this_second_pass() {
    std::thread::sleep(std::time::Duration::from_millis(1100));
}

/// Screen `count` valid patients `{prefix}0`, `{prefix}1`, … (values spread by `spread`) as
/// one batch file, and assert every one was screened.
pub fn screen_good_rows(env: &Env, prefix: &str, count: usize, spread: usize) {
    let mut csv = format!("{HEADER}\n");
    for i in 0..count {
        csv.push_str(&good_row(&format!("{prefix}{i}"), i * spread));
        csv.push('\n');
    }
    let batch = env.write("batch.csv", csv.as_bytes());
    assert_ok(&env.run(
        &["screen", "--batch", batch.to_str().expect("utf8"), "-q"],
        true,
    ));
}

/// A `pulsecure-evaluator serve` process on `dir/run/evaluator.sock`.
pub struct Evaluator {
    pub child: Child,
    pub socket: PathBuf,
    pub data: PathBuf,
    pub log: PathBuf,
}

impl Evaluator {
    pub fn start(dir: &Path) -> Self {
        let data = dir.join("evaluator-data");
        // The evaluator's own binary when cargo built it beside this one (cargo test
        // --workspace), else the same server code through `pulsecure run-evaluator`.
        let me = PathBuf::from(env!("CARGO_BIN_EXE_pulsecure"));
        let beside = me.with_file_name("pulsecure-evaluator");
        let mut command = if beside.is_file() {
            Command::new(beside)
        } else {
            let mut c = Command::new(me);
            c.arg("run-evaluator");
            c
        };
        command.env("PULSECURE_LOG", "debug");
        let served = pulsecure_testkit::processes::serve_on_socket(command, dir, &data, &[]);
        Evaluator {
            child: served.child,
            socket: served.socket,
            data,
            log: served.log,
        }
    }

    pub fn address(&self) -> String {
        format!("unix:{}", self.socket.display())
    }

    pub fn kill_9(&mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }
}

impl Drop for Evaluator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
