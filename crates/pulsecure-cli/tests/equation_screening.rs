//! `pulsecure screen --model prevent --batch F.csv --format json` end to end (in-process
//! evaluator, real TFHE): both PREVENT outputs for an eligible patient within 0.2
//! percentage point of the exact equation, known CVD and a 25-year-old `not_eligible`
//! with nothing encrypted, an out-of-range value a per-row error naming the field and its
//! range (never the value), exit code 3 for the rejected row; a second run resumes. The same
//! for `--model pce-ascvd-10y` (2013 PCE, three encrypted outputs): the clinic's columns plus
//! `race`, `other` on the white equations, ages outside 40-79 `not_eligible`, SBP up to 200.

mod support;

use support::{assert_ok, assert_same_refusal, Env};

const BATCH: &str = "\
patient_id,age,sex,sbp,bp_tx,total_c,hdl_c,statin,dm,smoking,egfr,known_cvd
P-F50,50,female,160,1,200,45,0,1,0,90,0
P-CVD,60,male,140,0,210,40,0,0,1,80,1
P-YOUNG,25,male,120,0,180,50,0,0,0,100,0
P-BAD,55,male,400,0,200,50,0,0,0,90,0
";

/// The exact PREVENT equations for P-F50 (golden vector `preventr-F50-base`).
const EXACT: [(&str, f64); 2] = [
    ("prevent-cvd-10y", 0.146_839_390_956_448_24),
    ("prevent-ascvd-10y", 0.091_950_897_536_328_74),
];

fn rows(stdout: &[u8]) -> Vec<serde_json::Value> {
    serde_json::from_slice(stdout).expect("a JSON array of results")
}

/// One batch screening's files and what it printed.
struct Screened {
    /// The command's arguments (to run it again).
    args: Vec<String>,
    /// The input file.
    batch: std::path::PathBuf,
    /// The rejected-rows file.
    errors: std::path::PathBuf,
    /// The results, parsed.
    results: Vec<serde_json::Value>,
    /// What it wrote to stderr.
    stderr: String,
}

impl Screened {
    fn args(&self) -> Vec<&str> {
        self.args.iter().map(String::as_str).collect()
    }
}

/// `screen --model MODEL --batch FILE --format json` on `csv`, whose one bad row makes it
/// exit 3.
fn screen_batch(env: &Env, model: &str, csv: &str, name: &str) -> Screened {
    let batch = env.write(name, csv.as_bytes());
    let errors = env.path(&format!("{name}.errors.csv"));
    let args: Vec<String> = [
        "screen",
        "--model",
        model,
        "--batch",
        batch.to_str().expect("utf-8"),
        "--format",
        "json",
        "--errors",
        errors.to_str().expect("utf-8"),
        "--quiet",
    ]
    .iter()
    .map(|a| (*a).to_string())
    .collect();
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = env.run(&arg_refs, true);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(3),
        "a rejected row: exit 3\n{stderr}"
    );
    Screened {
        results: rows(&out.stdout),
        args,
        batch,
        errors,
        stderr,
    }
}

#[test]
fn prevent_batch_screens_both_outputs_with_the_intake_rule() {
    let env = Env::initialized();
    let screened = screen_batch(&env, "prevent", BATCH, "batch.csv");
    let Screened {
        results,
        errors,
        stderr,
        ..
    } = &screened;
    assert_eq!(results.len(), 6, "3 rows × 2 models: {results:?}");

    for (model, exact) in EXACT {
        let r = results
            .iter()
            .find(|r| r["patient_id"] == "P-F50" && r["model_id"] == model)
            .expect("P-F50 screened");
        assert_eq!(r["status"], "screened");
        assert_eq!(r["model_version"], 2);
        let p = r["probability"].as_f64().expect("probability");
        assert!((p - exact).abs() <= 0.002, "{model}: {p} vs {exact}");
        assert_eq!(r["risk_category"], "intermediate");
        assert_eq!(r["risk_text"], format!("{:.1} %", p * 100.0));
    }
    for id in ["P-CVD", "P-YOUNG"] {
        for (model, _) in EXACT {
            let r = results
                .iter()
                .find(|r| r["patient_id"] == id && r["model_id"] == model)
                .expect("a not-eligible row");
            assert_eq!(r["status"], "not_eligible", "{id}");
            assert!(r["probability"].is_null(), "{id}: no estimate");
        }
    }
    let cvd = results
        .iter()
        .find(|r| r["patient_id"] == "P-CVD")
        .expect("P-CVD");
    assert_eq!(
        cvd["reason"],
        "already diagnosed — secondary prevention; see a clinician"
    );
    assert!(!results.iter().any(|r| r["patient_id"] == "P-BAD"));
    let rejected = std::fs::read_to_string(errors).expect("errors file");
    assert!(
        rejected.contains("P-BAD") && rejected.contains("sbp"),
        "{rejected}"
    );
    assert!(
        rejected.contains("90") && rejected.contains("180"),
        "{rejected}"
    );
    assert!(
        !rejected.contains("400"),
        "the value is never shown: {rejected}"
    );
    assert!(!stderr.contains("400"), "{stderr}");

    // Stored: a second run reports the stored results instead of screening again, the
    // not-eligible decisions included.
    let again = env.run(&screened.args(), true);
    let results = rows(&again.stdout);
    let f50: Vec<_> = results
        .iter()
        .filter(|r| r["patient_id"] == "P-F50")
        .collect();
    assert_eq!(f50.len(), 2);
    assert!(
        f50.iter().all(|r| r["status"] == "already-stored"),
        "{f50:?}"
    );
    let cvd_again = results
        .iter()
        .find(|r| r["patient_id"] == "P-CVD")
        .expect("P-CVD again");
    assert_eq!(cvd_again["status"], "not_eligible");
    assert_eq!(
        cvd_again["reason"],
        "already diagnosed — secondary prevention; see a clinician"
    );

    // History reads the stored rows through their own model: category and one decimal; the
    // not-eligible decisions are stored as such, with their reason and no values.
    let history = env.run(&["history", "--format", "json"], true);
    assert_ok(&history);
    let stored = rows(&history.stdout);
    assert_eq!(
        stored.len(),
        6,
        "P-F50, P-CVD and P-YOUNG for both models: {stored:?}"
    );
    for r in stored.iter().filter(|r| r["patient_id"] == "P-F50") {
        assert_eq!(r["status"], "screened", "{r}");
        assert_eq!(r["risk_class"], "intermediate", "{r}");
        let p = r["probability"].as_f64().expect("probability");
        assert_eq!(r["risk_text"], format!("{:.1} %", p * 100.0));
        assert_eq!(r["features"]["sbp"], 160.0);
    }
    for (id, code) in [("P-CVD", "known_cvd"), ("P-YOUNG", "age_outside_range")] {
        let mine: Vec<_> = stored.iter().filter(|r| r["patient_id"] == id).collect();
        assert_eq!(mine.len(), 2, "{id}: one row per model");
        for r in mine {
            assert_eq!(r["status"], "not_eligible", "{r}");
            assert_eq!(r["reason_code"], code, "{r}");
            assert!(r["probability"].is_null(), "{r}");
            assert_eq!(r["features"], serde_json::json!({}), "no values: {r}");
        }
    }
    // A class filter lists results only.
    let low = env.run(&["history", "--class", "low", "--format", "json"], true);
    assert_ok(&low);
    let low = rows(&low.stdout);
    assert_eq!(low.len(), 2, "P-F50's two results (below `high`): {low:?}");
    assert!(low.iter().all(|r| r["status"] == "screened"));
    // The export carries the status and the reason code.
    let export = env.run(&["export", "--format", "csv"], true);
    assert_ok(&export);
    let csv = String::from_utf8_lossy(&export.stdout);
    let header = csv.lines().next().expect("header");
    assert!(header.contains("status,reason_code"), "{header}");
    assert!(csv
        .lines()
        .any(|l| l.contains("P-CVD") && l.contains("not_eligible,known_cvd")));
}

/// The clinic's columns (issue 31) plus `race`: the PCE ignores statin and egfr.
const PCE_BATCH: &str = "\
patient_id,age,sex,race,sbp,bp_tx,total_c,hdl_c,statin,dm,smoking,egfr,known_cvd
W-M55,55,male,white,120,0,213,50,0,0,0,90,0
O-M55,55,male,other,120,0,213,50,1,0,0,60,0
AA-F55,55,female,black,120,0,213,50,0,0,0,90,0
AA-F50,50,female,black,160,1,200,45,0,1,0,90,0
W-F67,67,female,white,200,1,200,45,0,1,0,90,0
P-35,35,male,white,120,0,213,50,0,0,0,90,0
P-CVD,60,male,black,140,0,210,40,0,0,1,80,1
P-BAD,55,male,white,250,0,200,50,0,0,0,90,0
";

/// The exact PCE for the rows above (guideline Table A and preventr's vectors): (patient,
/// exact probability, category).
const PCE_EXACT: [(&str, f64, &str); 4] = [
    ("W-M55", 0.053_76, "borderline"),
    ("AA-F55", 0.030_32, "low"),
    ("AA-F50", 0.244_79, "high"),
    ("O-M55", 0.053_76, "borderline"),
];

#[test]
fn pce_batch_screens_with_race_and_its_own_ages() {
    let env = Env::initialized();
    let screened = screen_batch(&env, "pce-ascvd-10y", PCE_BATCH, "pce.csv");
    let Screened {
        results,
        batch,
        errors,
        stderr,
        ..
    } = &screened;
    assert_eq!(
        results.len(),
        7,
        "one result per row but P-BAD: {results:?}"
    );
    assert!(results.iter().all(|r| r["model_id"] == "pce-ascvd-10y"));
    for (id, exact, category) in PCE_EXACT {
        let r = results
            .iter()
            .find(|r| r["patient_id"] == id)
            .expect("screened");
        assert_eq!(r["status"], "screened", "{id}");
        assert_eq!(r["model_version"], 1);
        let p = r["probability"].as_f64().expect("probability");
        assert!((p - exact).abs() <= 0.002, "{id}: {p} vs {exact}");
        assert_eq!(r["risk_category"], category, "{id}");
    }
    let white = results
        .iter()
        .find(|r| r["patient_id"] == "W-M55")
        .expect("W-M55");
    let other = results
        .iter()
        .find(|r| r["patient_id"] == "O-M55")
        .expect("O-M55");
    assert_eq!(
        white["probability"], other["probability"],
        "other: white equations"
    );
    let f67 = results
        .iter()
        .find(|r| r["patient_id"] == "W-F67")
        .expect("W-F67");
    assert_eq!(
        f67["status"], "screened",
        "SBP 200 is inside the PCE's range"
    );
    for id in ["P-35", "P-CVD"] {
        let r = results.iter().find(|r| r["patient_id"] == id).expect(id);
        assert_eq!(r["status"], "not_eligible", "{id}");
        assert!(r["probability"].is_null());
    }
    let young = results
        .iter()
        .find(|r| r["patient_id"] == "P-35")
        .expect("P-35");
    assert!(
        young["reason"].as_str().expect("reason").contains("40-79"),
        "{young}"
    );
    let rejected = std::fs::read_to_string(errors).expect("errors file");
    assert!(
        rejected.contains("P-BAD") && rejected.contains("sbp"),
        "{rejected}"
    );
    assert!(
        rejected.contains("90") && rejected.contains("200"),
        "{rejected}"
    );
    assert!(
        !rejected.contains("250") && !stderr.contains("250"),
        "{rejected}"
    );

    // `--model prevent` stays PREVENT only, on the same clinic file (race ignored).
    let prevent = env.run(
        &[
            "screen",
            "--model",
            "prevent",
            "--batch",
            batch.to_str().expect("utf-8"),
            "--format",
            "json",
            "--quiet",
        ],
        true,
    );
    let results = rows(&prevent.stdout);
    assert!(
        results.iter().all(|r| r["model_id"] != "pce-ascvd-10y"),
        "{results:?}"
    );
    assert!(results.iter().any(|r| r["model_id"] == "prevent-cvd-10y"));
}

#[test]
fn an_unknown_model_is_a_usage_error() {
    let env = Env::initialized();
    let batch = env.write("batch.csv", BATCH.as_bytes());
    let out = env.run(
        &[
            "screen",
            "--model",
            "framingham-10y",
            "--batch",
            batch.to_str().expect("utf-8"),
        ],
        true,
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ok(&env.run(&["info"], false));
}

/// One rule for a patient given as a JSON object (issue 33), for a published equation too:
/// `screen --model ID --json` and a JSON Lines batch row accept or refuse the same object
/// alike (a numeric `patient_id`, the `patient_ref` alias, both keys, a key twice, an array
/// where a value belongs, an unknown key by its position). Without a reference, `--json`
/// screens under a generated one, as cvd-lr's does; a batch row needs its own.
#[test]
fn screen_json_and_a_json_lines_row_read_the_same_equation_patient_alike() {
    const VALUES: &str = r#""age": 50, "sex": "female", "sbp": 160, "bp_tx": 1, "total_c": 200, "hdl_c": 45, "statin": 0, "dm": 1, "smoking": 0, "egfr": 90, "known_cvd": 0"#;
    let cases: Vec<(String, Result<&str, &str>)> = vec![
        (format!(r#"{{"patient_id": 2042, {VALUES}}}"#), Ok("2042")),
        (
            format!(r#"{{"patient_ref": "ALIAS-E", {VALUES}}}"#),
            Ok("ALIAS-E"),
        ),
        (
            format!(r#"{{"patient_ref": "B-E", "patient_id": "B-E", {VALUES}}}"#),
            Err("column patient_id: given more than once"),
        ),
        (
            format!(r#"{{"patient_id": "U-E", {VALUES}, "Jane Doe 1961": 1}}"#),
            Err("column #13: field #13 is not a column of this model"),
        ),
        (
            format!(r#"{{"patient_id": "T-E", {VALUES}, "sex": "male"}}"#),
            Err("column sex: given more than once"),
        ),
        (
            format!(
                r#"{{"patient_id": "A-E", {}}}"#,
                VALUES.replace(r#""sbp": 160"#, r#""sbp": [160]"#)
            ),
            Err("column sbp: expected a number, true/false or a level such as female"),
        ),
    ];
    let model = "prevent-cvd-10y";
    let batch_env = Env::initialized();
    let lines: Vec<&str> = cases.iter().map(|(json, _)| json.as_str()).collect();
    let jsonl = batch_env.write("cases.jsonl", format!("{}\n", lines.join("\n")).as_bytes());
    let batch = batch_env.run(
        &[
            "screen",
            "--model",
            model,
            "--batch",
            jsonl.to_str().expect("utf-8"),
            "--format",
            "json",
            "--quiet",
        ],
        true,
    );
    let batch_stderr = String::from_utf8_lossy(&batch.stderr).into_owned();
    assert_eq!(batch.status.code(), Some(3), "{batch_stderr}");
    let screened = rows(&batch.stdout);

    let env = Env::initialized();
    let screen_json = |name: &str, json: &str| {
        let file = env.write(name, json.as_bytes());
        let at = format!("@{}", file.display());
        env.run(
            &[
                "screen", "--model", model, "--json", &at, "--format", "json", "--quiet",
            ],
            true,
        )
    };
    for (i, (json, expected)) in cases.iter().enumerate() {
        let row = i + 1;
        let single = screen_json(&format!("case-{row}.json"), json);
        let stderr = String::from_utf8_lossy(&single.stderr);
        let batch_says = batch_stderr
            .lines()
            .find_map(|l| l.strip_prefix(&format!("row {row}, ")));
        // Refused before unlocking (`--json, `) or by the model's columns (`row 1, `).
        let single_says = stderr.lines().find_map(|l| {
            l.split_once("--json, ")
                .map(|(_, rest)| rest)
                .or_else(|| l.strip_prefix("row 1, "))
        });
        match expected {
            Ok(reference) => {
                assert_ok(&single);
                let results = rows(&single.stdout);
                assert_eq!(results[0]["patient_id"], *reference, "case {row}");
                assert_eq!(results[0]["status"], "screened", "case {row}");
                assert!(
                    screened.iter().any(|r| r["patient_id"] == *reference),
                    "case {row}: {batch_stderr}"
                );
                assert_eq!(batch_says, None, "case {row}");
            }
            Err(reason) => {
                assert_same_refusal(row, &single, single_says, batch_says, reason);
            }
        }
    }

    // No reference: generated for one patient, as for cvd-lr.
    let anonymous = screen_json("anonymous.json", &format!("{{{VALUES}}}"));
    assert_ok(&anonymous);
    let results = rows(&anonymous.stdout);
    let generated = results[0]["patient_id"].as_str().expect("a reference");
    assert!(generated.starts_with("P-"), "{generated}");
}
