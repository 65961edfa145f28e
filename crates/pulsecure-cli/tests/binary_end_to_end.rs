//! End-to-end tests of the real `pulsecure` binary.

use std::process::Command;

fn pulsecure() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pulsecure"));
    let dir = std::env::temp_dir().join(format!("pulsecure-e2e-{}", std::process::id()));
    cmd.env("PULSECURE_DATA_DIR", dir);
    cmd
}

#[test]
fn demo_screens_examples_under_encryption_and_matches_reference() {
    let out = pulsecure().args(["demo", "--json"]).output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let patients = doc["patients"].as_array().expect("patients");
    assert_eq!(patients.len(), 6);
    assert!(patients.iter().all(|p| p["matches_reference"] == true));
    assert!(patients.iter().any(|p| p["risk_class"] == "high"));
    assert!(patients.iter().any(|p| p["risk_class"] == "low"));
    assert!(doc["pbs_per_evaluation"].as_u64().expect("count") > 0);
    // PREVENT, both outputs, through the same evaluator process: the two eligible example
    // patients screened and equal to the reference, the one with known CVD not eligible.
    let prevent = doc["prevent"].as_array().expect("prevent");
    assert_eq!(prevent.len(), 6, "3 patients x 2 models");
    for model in ["prevent-cvd-10y", "prevent-ascvd-10y"] {
        let rows: Vec<_> = prevent.iter().filter(|r| r["model_id"] == model).collect();
        assert_eq!(
            rows.iter().filter(|r| r["status"] == "screened").count(),
            2,
            "{model}"
        );
        assert!(rows
            .iter()
            .filter(|r| r["status"] == "screened")
            .all(|r| r["matches_reference"] == true));
        assert!(rows.iter().any(|r| r["status"] == "not_eligible"
            && r["reason"] == "already diagnosed — secondary prevention; see a clinician"));
    }
    // The evaluation ran in another process, which held the server key and nothing else.
    let evaluator = &doc["evaluator"];
    assert_ne!(evaluator["pid"], doc["client_pid"]);
    assert_eq!(evaluator["exit_code"], 0, "stopped cleanly");
    let held: Vec<&str> = evaluator["holds"]
        .as_array()
        .expect("holds")
        .iter()
        .map(|h| h["file"].as_str().expect("file"))
        .collect();
    // The key, who uploaded it (the evaluator's key owners), the anti-rollback record.
    assert_eq!(held.len(), 3, "{held:?}");
    assert!(held.contains(&"accepted-models.json"), "{held:?}");
    for suffix in [".key", ".owners"] {
        assert!(
            held.iter()
                .any(|f| f.starts_with("keys/") && f.ends_with(suffix)),
            "{held:?}"
        );
    }
}

#[test]
fn bench_json_has_the_documented_keys_and_is_exact() {
    let out = pulsecure()
        .args([
            "bench",
            "--runs",
            "1",
            "--keygen-runs",
            "1",
            "--batch",
            "2",
            "--json",
        ])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for key in [
        "keygen_ms",
        "keygen_ms_min",
        "encrypt_ms",
        "encrypt_ms_min",
        "eval_ms",
        "eval_ms_min",
        "decrypt_ms",
        "decrypt_ms_min",
        "pbs_ms",
        "pbs_ms_min",
        "upload_bytes",
        "server_key_bytes",
        "batch_patients_per_s",
    ] {
        assert!(
            doc[key].as_f64().is_some_and(|v| v > 0.0),
            "{key} missing or not positive"
        );
    }
    // Through the evaluator service too: its figures, and its results counted as exact.
    let service = &doc["service"];
    for key in [
        "eval_ms",
        "eval_ms_min",
        "in_process_eval_ms",
        "key_upload_ms",
        "batch_patients_per_s",
    ] {
        assert!(
            service[key].as_f64().is_some_and(|v| v > 0.0),
            "service.{key} missing or not positive"
        );
    }
    assert!(service["added_ms"].as_f64().is_some(), "service.added_ms");
    assert_eq!(doc["exact"]["checked"], doc["exact"]["matched"]);
    // 1 run + 2 batch in-process; 1 run in-process and through the service + 2 batch there.
    assert_eq!(doc["exact"]["checked"], 7);
    assert_eq!(doc["pbs_per_eval"], doc["pbs_per_eval_counted_by_tfhe"]);
    assert!(doc["upload_bytes"].as_u64().expect("bytes") <= 8192);
}

#[test]
fn help_lists_commands_and_exit_codes() {
    let out = pulsecure().arg("--help").output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "demo",
        "bench",
        "info",
        "NOT a diagnosis",
        "Exit codes",
        "--data-dir",
    ] {
        assert!(text.contains(word), "help lacks {word}");
    }
}

#[test]
fn unknown_command_is_a_usage_error() {
    let out = pulsecure().arg("frobnicate").output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_closed_stdout_ends_the_program_quietly() {
    // `pulsecure info | head -0`: the pipe's reader is closed before the program starts.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pulsecure"))
        .arg("info")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert!(
        out.status.signal() == Some(13),
        "ends by SIGPIPE, like other Unix tools, not by a panic: {:?}",
        out.status
    );
}
