//! The log of a whole session at the most verbose level (init, single and batch screening
//! with a rejected row, history, export, a DP release, a wrong password) holds none of the
//! patients' values or references, nor the password — while it does record the events.

mod support;

use support::*;

/// Distinctive values that cannot appear in a log by accident (timestamps, ids, sizes).
/// (The yes/no and 1-4 answers are too short to be told apart from other numbers in a log.)
const VALUES: [&str; 7] = [
    "known_cvd=0",
    "age=67.25",
    "told_diabetes=1",
    "systolic_bp=131.3125",
    "current_smoker=0",
    "male=1",
    "told_high_bp=1",
];
const NEEDLES: [&str; 10] = [
    "67.25",
    "131.3125",
    "919.875",
    "SECRET-REF-1",
    "SECRET-BATCH-2",
    "SECRET-BATCH-3",
    "SECRET-NOHEADER-4",
    "SECRET-JSON-5",
    "SECRET-BROKEN-6",
    "SECRET-LONG-7",
];

#[test]
fn trace_logs_of_a_full_session_carry_no_patient_data() {
    let env = Env::initialized();
    let mut args = vec![
        "screen",
        "--patient-ref",
        "SECRET-REF-1",
        "--format",
        "json",
    ];
    for v in VALUES {
        args.extend(["-v", v]);
    }
    assert_ok(&env.run(&args, true));
    // The same reference again: refused as a duplicate without naming it.
    let again = env.run(&args, true);
    assert_eq!(again.status.code(), Some(3), "duplicate");
    // A CSV file without its header row: its first data row is not echoed as column names.
    let headless = env.write(
        "headless.csv",
        b"SECRET-NOHEADER-4,0,67.25,1,131.3125,0,1,1\n",
    );
    let refused = env.run(
        &["screen", "--batch", headless.to_str().expect("utf8")],
        true,
    );
    assert_eq!(refused.status.code(), Some(3), "no header row");
    // Single-patient input errors reachable from stdin: a value that is not a number, JSON
    // that does not parse, a reference too long to be a pseudonym.
    let string_value = env.write(
        "string.json",
        br#"{"patient_id": "P-9", "age": "SECRET-JSON-5"}"#,
    );
    let broken = env.write("broken.json", br#"{"age": 63, SECRET-BROKEN-6}"#);
    let long_ref = env.write(
        "long.json",
        format!(
            r#"{{"patient_id": "SECRET-LONG-7{}", "age": 63}}"#,
            "x".repeat(80)
        )
        .as_bytes(),
    );
    let mut input_errors = Vec::new();
    for file in [&string_value, &broken, &long_ref] {
        let at = format!("@{}", file.display());
        let out = env.run(&["screen", "--json", &at], true);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        input_errors.push(out);
    }
    for out in [&again, &refused].into_iter().chain(input_errors.iter()) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        for needle in NEEDLES {
            assert!(!stderr.contains(needle), "{needle} echoed: {stderr}");
        }
    }
    let batch = format!(
        "{HEADER}\nSECRET-BATCH-2,0,67.25,1,131.3125,0,1,1\nSECRET-BATCH-3,0,67.25,1,919.875,0,1,1\n"
    );
    let path = env.write("batch.csv", batch.as_bytes());
    let out = env.run(
        &[
            "screen",
            "--batch",
            path.to_str().expect("utf8"),
            "--format",
            "csv",
        ],
        true,
    );
    assert_eq!(out.status.code(), Some(3), "one row is rejected");
    assert_ok(&env.run(&["history", "--format", "json"], true));
    support::let_this_second_pass();
    assert_ok(&env.run(&["stats", "count", "--epsilon", "0.1", "--yes"], true));
    let wrong = env.write("wrong", b"not the password at all\n");
    let out = env.run_with_password_file(&["history"], &wrong);
    assert_eq!(out.status.code(), Some(4));

    let log = env.log_text();
    for event in [
        "vault unlocked",
        "screening stored",
        "batch finished",
        "batch row rejected",
        "privacy release",
        "failed",
    ] {
        assert!(log.contains(event), "`{event}` not logged:\n{log}");
    }
    env.assert_log_free_of(&NEEDLES);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.data.join("pulsecure.log"))
        .expect("log file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the log is private to its owner");
}

/// A JSON key the model does not know may be patient data typed in the wrong place: batch
/// files (JSON Lines and a JSON array) and a single `--json` patient report it by its row
/// and its position among the object's keys — on stderr, in the `--errors` file and in the
/// log — never by its text.
#[test]
fn unknown_json_keys_are_reported_by_position_never_by_text() {
    const KEY: &str = "Jane Doe DOB 1961-04-02 NHS 943 476 5919";
    const NEEDLES: [&str; 4] = ["Jane Doe", "1961-04-02", "943 476 5919", "SECRET-KEY-8"];
    let env = Env::initialized();
    // Row 1: the unknown key third, with a number; row 2: second, with a string value.
    let rows = [
        format!(r#"{{"patient_id": "P-1", "age": 63, "{KEY}": 1, "male": 1}}"#),
        r#"{"patient_id": "P-2", "SECRET-KEY-8": "x", "age": 63}"#.to_string(),
    ];
    let jsonl = env.write(
        "keys.jsonl",
        format!("{}\n{}\n", rows[0], rows[1]).as_bytes(),
    );
    let array = env.write(
        "keys.json",
        format!("[{}, {}]", rows[0], rows[1]).as_bytes(),
    );
    for (file, errors) in [(&jsonl, "errors-jsonl.csv"), (&array, "errors-array.csv")] {
        let errors = env.path(errors);
        let out = env.run(
            &[
                "screen",
                "--batch",
                file.to_str().expect("utf8"),
                "--errors",
                errors.to_str().expect("utf8"),
            ],
            true,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(
            stderr.contains("row 1, column #3: unknown field #3 (expected one of: age,"),
            "{stderr}"
        );
        assert!(
            stderr.contains("row 2, column #2: unknown field #2"),
            "{stderr}"
        );
        let errors = std::fs::read_to_string(&errors).expect("errors file");
        assert!(errors.contains("1,P-1,#3,\"unknown field #3 ("), "{errors}");
        assert!(errors.contains("2,P-2,#2,\"unknown field #2 ("), "{errors}");
        for needle in NEEDLES {
            assert!(!stderr.contains(needle), "{needle} on stderr: {stderr}");
            assert!(!errors.contains(needle), "{needle} in --errors: {errors}");
        }
    }
    let single = env.write("single.json", rows[0].as_bytes());
    let at = format!("@{}", single.display());
    let out = env.run(&["screen", "--json", &at], true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("unknown field #3"), "{stderr}");
    let single = env.write("string.json", rows[1].as_bytes());
    let at = format!("@{}", single.display());
    let out = env.run(&["screen", "--json", &at], true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    // Refused as the batch refuses row 2 (one JSON patient rule): the unknown key, by its
    // position, before its value's type.
    assert!(
        stderr.contains("--json, column #2: unknown field #2 (expected one of: age,"),
        "{stderr}"
    );
    for needle in NEEDLES {
        assert!(!stderr.contains(needle), "{needle} on stderr: {stderr}");
    }
    assert!(env.log_text().contains("batch row rejected"));
    env.assert_log_free_of(&NEEDLES);
}
