//! `screen`, `history`, `export` and `db check` through the real binary: good, mixed and
//! hostile inputs, resumption after `kill -9`, and database faults.

mod support;

use std::time::{Duration, Instant};

use support::{
    assert_fails, assert_ok, assert_same_refusal, good_row, stdout, stored_rows, Env, HEADER,
};

const VALUES: [&str; 7] = [
    "known_cvd=0",
    "age=63",
    "told_diabetes=0",
    "systolic_bp=138.5",
    "current_smoker=1",
    "male=1",
    "told_high_bp=1",
];

fn screen_single(env: &Env, patient_ref: &str) -> std::process::Output {
    let mut args = vec!["screen", "--patient-ref", patient_ref, "--format", "json"];
    for v in VALUES {
        args.extend(["-v", v]);
    }
    env.run(&args, true)
}

/// The values and the reference come in on stdin: nothing of the patient is in the
/// arguments (which every local user can read), and no warning is printed.
#[test]
fn a_patient_read_from_stdin_keeps_argv_free_of_values() {
    use std::io::Write;
    let env = Env::initialized();
    let mut json = String::from("{\"patient_id\": \"MRN-STDIN-1\"");
    for v in VALUES {
        let (name, value) = v.split_once('=').expect("pair");
        json.push_str(&format!(", \"{name}\": {value}"));
    }
    json.push('}');
    let mut cmd = env.command();
    let args = ["screen", "--json", "-", "--format", "json"];
    cmd.args(args)
        .arg("--password-file")
        .arg(&env.password_file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(json.as_bytes())
        .expect("write patient");
    let out = child.wait_with_output().expect("wait");
    assert_ok(&out);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rows[0]["patient_id"], "MRN-STDIN-1");
    assert!(!args.iter().any(|a| a.contains("151") || a.contains("MRN")));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("warning"), "{stderr}");
    // Stored under the reference given inside the JSON.
    let history = env.run(&["history", "--format", "json"], true);
    assert!(stdout(&history).contains("MRN-STDIN-1"));
    // The reference in both places is ambiguous: refused.
    let both = env.write("both.json", json.as_bytes());
    let at_file = format!("@{}", both.display());
    assert_fails(
        &env.run(
            &["screen", "--json", &at_file, "--patient-ref", "OTHER"],
            true,
        ),
        3,
        "give the patient reference once",
    );
}

/// Values, inline JSON or a reference as arguments still work on a single-user machine,
/// with a warning that other users can read them.
#[test]
fn values_on_the_command_line_are_warned_about() {
    let env = Env::initialized();
    let out = screen_single(&env, "REF-ARGV");
    assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("readable by every user of this machine") && stderr.contains("--json -"),
        "{stderr}"
    );
}

#[test]
fn single_screening_is_stored_listed_exported_and_checked() {
    let env = Env::initialized();
    let out = screen_single(&env, "REF-1");
    assert_ok(&out);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let row = &rows[0];
    assert_eq!(row["patient_id"], "REF-1");
    assert_eq!(row["status"], "screened");
    assert_eq!(row["model_id"], "cvd-lr");
    let code = row["probability_code"].as_u64().expect("code");
    assert!((row["probability"].as_f64().expect("p") - code as f64 / 4096.0).abs() < 1e-12);

    // The same reference again is refused, not duplicated.
    assert_fails(&screen_single(&env, "REF-1"), 3, "already stored");
    assert_eq!(stored_rows(&env.data.join("pulsecure.db")), 1);

    let history = env.run(&["history", "--format", "json"], true);
    assert_ok(&history);
    let listed: serde_json::Value = serde_json::from_slice(&history.stdout).expect("json");
    assert_eq!(listed.as_array().expect("array").len(), 1);
    assert_eq!(listed[0]["features"]["systolic_bp"], 138.5);
    assert_eq!(
        listed[0]["risk_text"].as_str().map(|t| t.ends_with('%')),
        Some(true)
    );
    assert_eq!(listed[0]["probability_code"].as_u64(), Some(code));
    let id = listed[0]["id"].as_i64().expect("id").to_string();
    let shown = env.run(&["history", "--show", &id], true);
    assert_ok(&shown);
    assert!(stdout(&shown).contains("REF-1"));
    let other_class = if row["risk_class"] == "high" {
        "low"
    } else {
        "high"
    };
    let filtered = env.run(
        &["history", "--class", other_class, "--format", "json"],
        true,
    );
    assert_eq!(stdout(&filtered).trim(), "[]");
    let future = env.run(
        &["history", "--since", "2999-01-01", "--format", "json"],
        true,
    );
    assert_eq!(stdout(&future).trim(), "[]");
    assert_fails(
        &env.run(&["history", "--since", "2026-02-30"], true),
        3,
        "--since: expected a calendar date",
    );

    let export = env.path("export.csv");
    let out = env
        .command()
        .args(["export", "--format", "csv", "--out"])
        .arg(&export)
        .arg("--password-file")
        .arg(&env.password_file)
        .output()
        .expect("runs");
    assert_ok(&out);
    let csv = std::fs::read_to_string(&export).expect("export");
    assert!(csv.starts_with(
        "id,created_at,patient_id,model_id,model_version,status,reason_code,probability"
    ));
    assert!(
        csv.contains("REF-1,cvd-lr,3,screened,,") && csv.contains(",138.5,"),
        "{csv}"
    );

    let check = env.run(&["db", "check"], true);
    assert_ok(&check);
    assert!(stdout(&check).contains("1 checked, 0 fail"));
}

#[test]
fn mixed_batch_screens_good_rows_reports_bad_ones_and_resumes() {
    let env = Env::initialized();
    let mut csv = format!("{HEADER}\n");
    csv.push_str(&good_row("G1", 1));
    csv.push('\n');
    csv.push_str("M1,0,50,1,120,0,0\n"); // row 3: a field short
    csv.push_str("M2,0,50,1,abc,0,0,1\n"); // row 4: not a number
    csv.push_str("M3,0,50,7,120,0,0,1\n"); // row 5: not yes/no
    csv.push_str("M4,0,NaN,1,120,0,0,1\n"); // row 6: NaN
    csv.push_str("M5,0,50,1,990,0,0,1\n"); // row 7: out of range
    csv.push_str(&good_row("G1", 2)); // row 8: duplicated id
    csv.push('\n');
    csv.push_str(&format!("M6,{}\n", "9".repeat(70_000))); // row 9: too long
    csv.push_str(&good_row("G2", 3)); // row 10
    csv.push('\n');
    let mut bytes = csv.into_bytes();
    bytes.extend_from_slice(b"M7,0,50,1,\xff\xfe,0,0,1\n"); // row 11: not UTF-8
    bytes.extend_from_slice(b"N1,1,50,1,120,0,0,1\n"); // row 12: known CVD: not eligible
    bytes.extend_from_slice(b"N2,0,25,0,120,0,0,0\n"); // row 13: under 30: not eligible
    let input = env.write("mixed.csv", &bytes);
    let out_file = env.path("results.csv");
    let errors_file = env.path("errors.csv");
    let run = || {
        env.command()
            .args(["screen", "--batch"])
            .arg(&input)
            .arg("--out")
            .arg(&out_file)
            .arg("--errors")
            .arg(&errors_file)
            .arg("--password-file")
            .arg(&env.password_file)
            .output()
            .expect("runs")
    };
    let out = run();
    assert_fails(&out, 3, "8 row(s) were rejected");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("2 screened, 2 not eligible (stored as such), 0 already stored"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results = std::fs::read_to_string(&out_file).expect("results");
    let lines: Vec<&str> = results.lines().collect();
    assert_eq!(
        lines[0],
        "patient_id,status,probability,probability_code,risk_text,risk_class,model_id,model_version,reason"
    );
    assert_eq!(lines.len(), 5, "{results}");
    assert!(lines[1].starts_with("G1,screened,") && lines[2].starts_with("G2,screened,"));
    // Outside the population: no estimate, the reason, nothing encrypted; stored as such.
    assert_eq!(
        lines[3],
        "N1,not_eligible,,,,,cvd-lr,3,already diagnosed — secondary prevention; see a clinician"
    );
    assert_eq!(
        lines[4],
        "N2,not_eligible,,,,,cvd-lr,3,estimates are for ages 30-79; see a clinician"
    );
    let errors = std::fs::read_to_string(&errors_file).expect("errors");
    for expected in [
        "3,,,\"expected 8 comma-separated fields, found 7\"",
        "4,M2,systolic_bp,not a number",
        "5,M3,told_diabetes,",
        "6,M4,age,",
        "7,M5,systolic_bp,",
        "8,G1,patient_id,duplicated patient_id (first on row 2)",
        "9,,,line longer than 64 KiB",
        "11,,,not valid UTF-8 text",
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in\n{errors}"
        );
    }
    // No rejected value is echoed back.
    assert!(!errors.contains("990") && !errors.contains("abc") && !errors.contains("NaN"));
    assert!(
        !errors.contains("N1") && !errors.contains("N2"),
        "not eligible is no error"
    );
    assert_eq!(stored_rows(&env.data.join("pulsecure.db")), 4);

    // Running it again screens nothing new and reports the stored results.
    let again = run();
    assert_fails(
        &again,
        3,
        "0 screened, 0 not eligible (stored as such), 4 already stored",
    );
    let results_again = std::fs::read_to_string(&out_file).expect("results");
    assert!(results_again.contains("G1,already-stored,"));
    assert!(results_again.contains("N1,already-stored,,,,,cvd-lr,3,already diagnosed"));
    assert_eq!(
        results.lines().nth(1).map(|l| l.split(',').nth(3)),
        results_again.lines().nth(1).map(|l| l.split(',').nth(3)),
        "the resumed row reports the stored probability"
    );
    assert_eq!(stored_rows(&env.data.join("pulsecure.db")), 4);
}

#[test]
fn hostile_and_alternative_batch_files() {
    let env = Env::initialized();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "unknown.csv",
            format!("{HEADER},shoe_size\n").into_bytes(),
            "1 unknown column(s), at position(s) 9 (is the header row missing?); expected exactly: patient_id, age,",
        ),
        (
            "semicolon.csv",
            HEADER.replace(',', ";").into_bytes(),
            "the delimiter must be a comma",
        ),
        (
            "missing.csv",
            HEADER.replace(",told_diabetes", "").into_bytes(),
            "missing column(s) told_diabetes",
        ),
        ("empty.csv", Vec::new(), "is empty"),
        (
            "utf16.csv",
            {
                let mut b = vec![0xFF, 0xFE];
                for unit in HEADER.encode_utf16() {
                    b.extend_from_slice(&unit.to_le_bytes());
                }
                b
            },
            "not UTF-8",
        ),
        (
            "bad.json",
            b"[{\"patient_id\": 1,".to_vec(),
            "not a JSON array",
        ),
    ];
    for (name, content, needle) in cases {
        let path = env.write(name, &content);
        let out = env
            .command()
            .args(["screen", "--batch"])
            .arg(&path)
            .arg("--password-file")
            .arg(&env.password_file)
            .output()
            .expect("runs");
        // A batch that cannot be read as a whole is invalid input.
        assert_fails(&out, 3, needle);
    }
    assert_eq!(stored_rows(&env.data.join("pulsecure.db")), 0);

    // A JSON array and JSON Lines, each with one good and one bad record.
    let good = r#"{"patient_id":"J1","known_cvd":0,"age":58,"told_diabetes":0,"systolic_bp":131,"current_smoker":false,"male":1,"told_high_bp":true}"#;
    let bad = r#"{"patient_id":"J2","age":"old"}"#;
    let array = env.write("batch.json", format!("[{good},{bad}]").as_bytes());
    let out = env
        .command()
        .args(["screen", "--batch"])
        .arg(&array)
        .args(["--format", "json", "--password-file"])
        .arg(&env.password_file)
        .output()
        .expect("runs");
    assert_fails(&out, 3, "row 2, column age: expected a number");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json out");
    assert_eq!(rows[0]["patient_id"], "J1");
    let lines = env.write(
        "batch.jsonl",
        format!("{}\n{{\"patient_id\":\"J3\"}}\n", good.replace("J1", "J4")).as_bytes(),
    );
    let out = env
        .command()
        .args(["screen", "--batch"])
        .arg(&lines)
        .args(["--format", "csv", "--password-file"])
        .arg(&env.password_file)
        .output()
        .expect("runs");
    assert_fails(
        &out,
        3,
        "row 2, column known_cvd: missing required field `known_cvd`",
    );
    assert!(stdout(&out).contains("J4,screened,"));
    assert_eq!(stored_rows(&env.data.join("pulsecure.db")), 2);
}

#[test]
fn kill_9_during_a_batch_leaves_a_consistent_database_and_the_batch_resumes() {
    let env = Env::initialized();
    let patients = 10;
    let mut csv = format!("{HEADER}\n");
    for i in 0..patients {
        csv.push_str(&good_row(&format!("K{i}"), i));
        csv.push('\n');
    }
    let input = env.write("batch.csv", csv.as_bytes());
    let db = env.data.join("pulsecure.db");
    let mut child = env
        .command()
        .args(["screen", "--batch"])
        .arg(&input)
        .args(["--quiet", "--password-file"])
        .arg(&env.password_file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(300);
    while stored_rows(&db) < 1 {
        assert!(Instant::now() < deadline, "no screening stored in time");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let before = stored_rows(&db);
    assert!(
        before >= 1 && before < patients as i64,
        "killed mid-batch: {before}"
    );

    let conn = rusqlite::Connection::open(&db).expect("open");
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity");
    assert_eq!(integrity, "ok");
    drop(conn);
    let check = env.run(&["db", "check"], true);
    assert_ok(&check);

    let out = env.run(
        &[
            "screen",
            "--batch",
            input.to_str().expect("utf8 path"),
            "--format",
            "csv",
        ],
        true,
    );
    assert_ok(&out);
    let text = stdout(&out);
    let resumed = text.matches(",already-stored,").count() as i64;
    assert!(resumed >= before, "{text}");
    assert_eq!(text.lines().count(), patients + 1);
    assert_eq!(
        stored_rows(&db),
        patients as i64,
        "no duplicates after resuming"
    );
}

#[test]
fn database_faults_give_specific_errors() {
    let env = Env::initialized();
    assert_ok(&screen_single(&env, "REF-1"));
    let db = env.data.join("pulsecure.db");

    // A locked database (another process holds the write lock).
    let locker = rusqlite::Connection::open(&db).expect("open");
    locker.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    assert_fails(
        &screen_single(&env, "REF-2"),
        6,
        "locked by another process",
    );
    locker.execute_batch("ROLLBACK").expect("unlock");
    drop(locker);

    // An altered row fails the screenings' integrity record: every unlocked command,
    // `db check` included, refuses the database and says what was altered.
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute(
        "UPDATE screenings SET ref_tag = zeroblob(32) WHERE id = 1",
        [],
    )
    .expect("tamper");
    drop(conn);
    let check = env.run(&["db", "check"], true);
    assert_fails(
        &check,
        4,
        "altered outside Pulsecure: the stored screenings",
    );

    // The database of another vault is refused, and left as it was.
    let other = Env::initialized();
    std::fs::copy(&db, other.data.join("pulsecure.db")).expect("copy");
    let before = std::fs::read(other.data.join("pulsecure.db")).expect("read");
    assert_fails(
        &other.run(&["history"], true),
        4,
        "different vault's data key",
    );
    assert_eq!(
        std::fs::read(other.data.join("pulsecure.db")).expect("read"),
        before
    );
}

/// Copy the data directory onto a tmpfs in a private mount namespace (`unshare -rm`), run
/// `setup` there, then one screening; returns the combined output and the screening count
/// before and after, read inside the namespace.
fn screen_on_tmpfs(env: &Env, size_mib: u64, setup: &str) -> String {
    let mount = env.path("mnt");
    std::fs::create_dir_all(&mount).expect("mount point");
    let mut values = String::new();
    for v in VALUES {
        values.push_str(&format!(" -v {v}"));
    }
    let script = format!(
        "set -e
         mount -t tmpfs -o size={size_mib}m,mode=0700 tmpfs {mnt}
         cp -a {data}/. {mnt}/
         {setup}
         md5sum {mnt}/pulsecure.db > {tmp}/before.md5
         set +e
         {bin} --data-dir {mnt} screen --patient-ref FULL-1 --password-file {pw}{values}
         echo \"exit=$?\"
         md5sum -c --quiet {tmp}/before.md5 && echo db-unchanged",
        mnt = mount.display(),
        data = env.data.display(),
        tmp = env.tmp.path().display(),
        bin = env!("CARGO_BIN_EXE_pulsecure"),
        pw = env.password_file.display(),
    );
    support::run_in_mount_namespace(&script)
}

#[test]
fn a_full_or_read_only_disk_gives_a_storage_error_and_keeps_the_database() {
    let env = Env::initialized();
    // Checkpoint the WAL so the copied database is one file.
    let conn = rusqlite::Connection::open(env.data.join("pulsecure.db")).expect("open");
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .expect("checkpoint");
    drop(conn);
    let used: u64 = std::fs::read_dir(&env.data)
        .expect("ls")
        .map(|e| e.expect("entry").metadata().expect("meta").len())
        .sum();
    // Full: room for the files and nothing more.
    let size_mib = used.div_ceil(1 << 20);
    let text = screen_on_tmpfs(
        &env,
        size_mib,
        &format!(
            "dd if=/dev/zero of={}/filler bs=4k 2>/dev/null || true",
            env.path("mnt").display()
        ),
    );
    assert!(text.contains("exit=6"), "{text}");
    assert!(
        text.contains("disk is full") || text.contains("is the disk full"),
        "{text}"
    );
    assert!(text.contains("db-unchanged"), "{text}");
    // Read-only: remounted after the copy.
    let text = screen_on_tmpfs(
        &env,
        size_mib + 16,
        &format!("mount -o remount,ro {}", env.path("mnt").display()),
    );
    assert!(text.contains("exit=6"), "{text}");
    assert!(
        text.contains("is not writable (Read-only file system"),
        "{text}"
    );
    assert!(text.contains("db-unchanged"), "{text}");
}

/// One rule for a patient given as a JSON object (issue 33): the same object is accepted or
/// refused alike by `screen --json` and as a row of a JSON Lines batch — a numeric
/// `patient_id`, the `patient_ref` alias, both keys, a fraction as the reference, a string
/// where a number belongs, `null` (absent), unknown keys reported by position — with the same
/// column and the same reason, and never the unknown key's text.
#[test]
fn screen_json_and_a_json_lines_row_read_the_same_object_alike() {
    const VALUES: &str = r#""known_cvd": 0, "age": 63, "told_diabetes": 0, "systolic_bp": 138.5, "current_smoker": 1, "male": 1, "told_high_bp": 1"#;
    let with_age = |age: &str| VALUES.replace(r#""age": 63"#, &format!(r#""age": {age}"#));
    // Each object, and the reference it is screened under or the start of its refusal.
    let cases: Vec<(String, Result<&str, &str>)> = vec![
        (format!(r#"{{"patient_id": 1042, {VALUES}}}"#), Ok("1042")),
        (
            format!(r#"{{{VALUES}, "patient_ref": "ALIAS-1"}}"#),
            Ok("ALIAS-1"),
        ),
        (
            format!(r#"{{"patient_id": "B-1", {VALUES}, "patient_ref": "B-1"}}"#),
            Err("column patient_id: given more than once"),
        ),
        (
            format!(r#"{{"patient_id": 10.5, {VALUES}}}"#),
            Err("column patient_id: expected a string or an integer"),
        ),
        (
            format!(r#"{{"patient_id": "S-1", {}}}"#, with_age(r#""63""#)),
            Err("column age: expected a number (or true/false for yes/no fields)"),
        ),
        (
            format!(r#"{{"patient_id": "S-2", {}}}"#, with_age("[63]")),
            Err("column age: expected a number (or true/false for yes/no fields)"),
        ),
        (
            format!(r#"{{"patient_id": "N-1", {}}}"#, with_age("null")),
            Err("column age: missing required field `age`"),
        ),
        (
            format!(r#"{{"patient_id": "U-1", {VALUES}, "Jane Doe 1961": 1}}"#),
            Err("column #9: unknown field #9 (expected one of: "),
        ),
        (
            format!(r#"{{"patient_id": "U-2", "Jane Doe 1961": "x", {VALUES}}}"#),
            Err("column #2: unknown field #2 (expected one of: "),
        ),
    ];
    // The batch: one row per case, in a data directory of its own (an accepted patient is
    // stored, and the single screening of the same object must not find it there).
    let batch_env = Env::initialized();
    let lines: Vec<&str> = cases.iter().map(|(json, _)| json.as_str()).collect();
    let jsonl = batch_env.write("cases.jsonl", format!("{}\n", lines.join("\n")).as_bytes());
    let batch = batch_env.run(
        &[
            "screen",
            "--batch",
            jsonl.to_str().expect("utf8"),
            "--format",
            "json",
            "-q",
        ],
        true,
    );
    let batch_stderr = String::from_utf8_lossy(&batch.stderr).into_owned();
    assert_eq!(batch.status.code(), Some(3), "{batch_stderr}");
    let screened: serde_json::Value = serde_json::from_slice(&batch.stdout).expect("json");
    let screened: Vec<&str> = screened
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["patient_id"].as_str().expect("reference"))
        .collect();

    let env = Env::initialized();
    for (i, (json, expected)) in cases.iter().enumerate() {
        let row = i + 1;
        let file = env.write(&format!("case-{row}.json"), json.as_bytes());
        let at = format!("@{}", file.display());
        let single = env.run(&["screen", "--json", &at, "--format", "json", "-q"], true);
        let stderr = String::from_utf8_lossy(&single.stderr);
        // What each path says of the object: the row's error line after `row N, `, and
        // `--json`'s after `--json, `.
        let batch_says = batch_stderr
            .lines()
            .find_map(|l| l.strip_prefix(&format!("row {row}, ")));
        let single_says = stderr
            .lines()
            .find_map(|l| l.split_once("--json, ").map(|(_, rest)| rest));
        match expected {
            Ok(reference) => {
                assert_ok(&single);
                let rows: serde_json::Value = serde_json::from_slice(&single.stdout).expect("json");
                assert_eq!(rows[0]["patient_id"], *reference, "case {row}");
                assert!(screened.contains(reference), "case {row}: {batch_stderr}");
                assert_eq!(batch_says, None, "case {row}");
            }
            Err(reason) => {
                assert_same_refusal(row, &single, single_says, batch_says, reason);
            }
        }
    }
}
