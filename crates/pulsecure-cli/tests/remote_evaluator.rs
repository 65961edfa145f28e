//! The clinician's program through a real evaluator process on a Unix socket: registration
//! (once), single and batch screening equal to the in-process engine, clear failures when the
//! key is not registered or the evaluator is unreachable (exit 7), and a batch that survives
//! `kill -9` of the evaluator mid-way with every row screened exactly once.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{assert_fails, assert_ok, batch_file, outcomes, stdout, stored_rows, Env, Evaluator};

fn remote(env: &Env, evaluator: &Evaluator, args: &[&str]) -> std::process::Output {
    env.command()
        .env("PULSECURE_EVALUATOR", evaluator.address())
        .args(args)
        .arg("--password-file")
        .arg(&env.password_file)
        .output()
        .expect("runs")
}

#[test]
fn screening_goes_through_the_evaluator_service_and_equals_in_process() {
    let env = Env::initialized();
    let evaluator = Evaluator::start(env.tmp.path());

    // Not registered yet: a clear refusal naming the remedy.
    let patient = env.write(
        "patient.json",
        br#"{"patient_id": "REMOTE-1", "known_cvd": 0, "age": 63, "told_diabetes": 1,
            "systolic_bp": 142, "current_smoker": 1, "male": 1, "told_high_bp": 1}"#,
    );
    let patient_arg = format!("@{}", patient.display());
    let out = remote(&env, &evaluator, &["screen", "--json", &patient_arg, "-q"]);
    assert_fails(&out, 1, "does not hold this workstation's server key");
    assert!(String::from_utf8_lossy(&out.stderr).contains("keys register"));

    // Register once; the second time nothing is sent.
    let out = remote(&env, &evaluator, &["keys", "register"]);
    assert_ok(&out);
    assert!(stdout(&out).contains("registered"), "{}", stdout(&out));
    // One key file (and its owners record) on the evaluator.
    let stored: Vec<_> = std::fs::read_dir(evaluator.data.join("keys"))
        .expect("keys dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "key"))
        .collect();
    assert_eq!(stored.len(), 1, "one key file on the evaluator");
    let out = remote(&env, &evaluator, &["keys", "register"]);
    assert_ok(&out);
    assert!(stdout(&out).contains("already holds"), "{}", stdout(&out));

    // One patient, then a batch, through the service.
    assert_ok(&remote(
        &env,
        &evaluator,
        &["screen", "--json", &patient_arg, "-q"],
    ));
    // The workstation opens without reading the 30 MB server key (the vault's record of its
    // hash names the key set): under strace, no system call names server-key.bin.
    let traced_patient = env.write(
        "traced.json",
        br#"{"patient_id": "REMOTE-2", "known_cvd": 0, "age": 58, "told_diabetes": 0,
            "systolic_bp": 131, "current_smoker": 0, "male": 0, "told_high_bp": 1}"#,
    );
    let trace = env.path("screen.strace");
    let out = std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=%file,%desc", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_pulsecure"))
        .arg("--data-dir")
        .arg(&env.data)
        .args(["screen", "--json"])
        .arg(format!("@{}", traced_patient.display()))
        .args(["-q", "--password-file"])
        .arg(&env.password_file)
        .env("PULSECURE_EVALUATOR", evaluator.address())
        .env_remove("PULSECURE_PASSWORD")
        .output()
        .expect("strace runs (installed by .ci/run)");
    assert_ok(&out);
    let traced = std::fs::read_to_string(&trace).expect("strace output");
    assert!(
        traced.contains("pulsecure.db"),
        "the trace sees the program's files"
    );
    assert!(
        !traced.contains("server-key.bin"),
        "the server key file was touched while opening against a remote evaluator"
    );
    let file = batch_file(&env, "batch.csv", "R", 8, 5);
    let out = remote(
        &env,
        &evaluator,
        &[
            "screen",
            "--batch",
            file.to_str().expect("utf8"),
            "--format",
            "csv",
            "-q",
        ],
    );
    assert_ok(&out);
    let through_service = outcomes(&stdout(&out));
    assert_eq!(through_service.len(), 8);

    // The same batch in-process (another key set): the same results.
    let offline = Env::initialized();
    let out = offline.run(
        &[
            "screen",
            "--batch",
            file.to_str().expect("utf8"),
            "--format",
            "csv",
            "-q",
        ],
        true,
    );
    assert_ok(&out);
    assert_eq!(outcomes(&stdout(&out)), through_service);

    // A saved evaluator (in the vault) is used when no --evaluator is given.
    let saved = |args: &[&str]| {
        env.command()
            .env_remove("PULSECURE_EVALUATOR")
            .args(args)
            .arg("--password-file")
            .arg(&env.password_file)
            .output()
            .expect("runs")
    };
    let out = saved(&["evaluator", "set", &evaluator.address()]);
    assert_ok(&out);
    let out = saved(&["evaluator", "show"]);
    assert_ok(&out);
    assert!(stdout(&out).contains(&format!("{} (saved)", evaluator.address())));
    let before = std::fs::read_to_string(&evaluator.log)
        .expect("log")
        .matches("method=\"Evaluate\"")
        .count();
    let single = env.write(
        "saved.json",
        br#"{"patient_id": "SAVED-1", "known_cvd": 0, "age": 50, "told_diabetes": 0,
            "systolic_bp": 121, "current_smoker": 0, "male": 0, "told_high_bp": 0}"#,
    );
    assert_ok(&saved(&[
        "screen",
        "--json",
        &format!("@{}", single.display()),
        "-q",
    ]));
    let after = std::fs::read_to_string(&evaluator.log)
        .expect("log")
        .matches("method=\"Evaluate\"")
        .count();
    assert_eq!(after, before + 1, "the saved evaluator did the evaluation");
    assert_fails(
        &saved(&["evaluator", "set", "http://plain:80"]),
        2,
        "not an evaluator address",
    );
    assert_ok(&saved(&["evaluator", "clear"]));
    assert!(stdout(&saved(&["evaluator", "show"])).contains("(default; none saved)"));

    // The evaluator's log (debug level) holds no patient reference or field: it never
    // received one. (Values are numbers and cannot be told apart from sizes and times.)
    let log = std::fs::read_to_string(&evaluator.log).expect("log");
    assert!(log.contains("Evaluate"), "requests are logged: {log}");
    for needle in [
        "REMOTE-1",
        "R000",
        "R007",
        "systolic_bp",
        "known_cvd",
        "told_",
        "patient",
    ] {
        assert!(!log.contains(needle), "`{needle}` in the evaluator log");
    }
}

#[test]
fn an_unreachable_evaluator_is_its_own_exit_code() {
    let env = Env::initialized();
    let missing = env.path("nowhere/evaluator.sock");
    let out = env
        .command()
        .env("PULSECURE_EVALUATOR", format!("unix:{}", missing.display()))
        .args(["screen", "-v", "age=50", "--password-file"])
        .arg(&env.password_file)
        .output()
        .expect("runs");
    assert_fails(&out, 7, "unreachable");
    let out = env
        .command()
        .env("PULSECURE_EVALUATOR", "http://plain.example:80")
        .args(["screen", "-v", "age=50"])
        .output()
        .expect("runs");
    assert_fails(&out, 2, "not an evaluator address");
}

#[test]
fn a_batch_survives_the_evaluator_killed_and_restarted() {
    let env = Env::initialized();
    let mut evaluator = Evaluator::start(env.tmp.path());
    assert_ok(&remote(&env, &evaluator, &["keys", "register"]));
    let rows = 16;
    let file = batch_file(&env, "long.csv", "K", rows, 5);
    let out_file = env.path("results.csv");
    let mut screening = env
        .command()
        .env("PULSECURE_EVALUATOR", evaluator.address())
        .args(["screen", "--batch"])
        .arg(&file)
        .arg("--out")
        .arg(&out_file)
        .args(["--format", "csv", "-q", "--password-file"])
        .arg(&env.password_file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("batch starts");
    // Kill the evaluator once some rows are stored, restart it a moment later.
    let db = env.data.join("pulsecure.db");
    let deadline = Instant::now() + Duration::from_secs(120);
    while stored_rows(&db) < 2 {
        assert!(Instant::now() < deadline, "no row was screened");
        std::thread::sleep(Duration::from_millis(100));
    }
    evaluator.kill_9();
    let at_kill = stored_rows(&db);
    std::thread::sleep(Duration::from_millis(1500));
    let restarted = Evaluator::start(env.tmp.path());
    let status = screening.wait().expect("batch ends");
    let mut stderr = String::new();
    if let Some(mut e) = screening.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(status.success(), "batch failed after the restart: {stderr}");
    assert!(
        at_kill < rows as i64,
        "the kill came too late to test anything"
    );
    let results = std::fs::read_to_string(&out_file).expect("results");
    let screened = outcomes(&results);
    assert_eq!(screened.len(), rows, "every row reported once");
    assert_eq!(
        stored_rows(&db),
        rows as i64,
        "every row stored exactly once"
    );
    drop(restarted);
}

/// Without `XDG_RUNTIME_DIR` the default socket is in `$TMPDIR/pulsecure-UID`, a name any
/// local user can take first. The clinician's program refuses that directory unless it is
/// the user's own with mode 0700 (exit 4, nothing sent), and so does the evaluator.
#[test]
fn the_fallback_socket_directory_must_be_the_users_own_with_mode_0700() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let env = Env::initialized();
    let tmp = env.path("tmp");
    std::fs::create_dir(&tmp).expect("tmp");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let me = std::fs::metadata(env.tmp.path()).expect("meta").uid();
    let fallback = tmp.join(format!("pulsecure-{me}"));
    let run = |command: &mut std::process::Command| {
        command
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("PULSECURE_EVALUATOR")
            .env("TMPDIR", &tmp)
            .output()
            .expect("runs")
    };
    let register = || {
        run(env
            .command()
            .args(["keys", "register", "--password-file"])
            .arg(&env.password_file))
    };
    let serve = || {
        run(std::process::Command::new(env!("CARGO_BIN_EXE_pulsecure"))
            .args(["run-evaluator", "serve", "--data-dir"])
            .arg(env.path("evaluator-data")))
    };
    // Another user created it first (and could listen in it).
    std::fs::create_dir(&fallback).expect("mkdir");
    std::fs::set_permissions(&fallback, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::os::unix::fs::chown(&fallback, Some(65534), Some(65534)).expect("chown");
    assert_fails(&register(), 4, "belongs to uid 65534, not to this user");
    let out = serve();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("belongs to uid 65534"), "{stderr}");
    // The user's own, but open to everyone.
    std::os::unix::fs::chown(&fallback, Some(me), Some(me)).expect("chown back");
    std::fs::set_permissions(&fallback, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    assert_fails(&register(), 4, "has mode 0777, not 0700");
    let out = serve();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("has mode 0777, not 0700"), "{stderr}");
}
