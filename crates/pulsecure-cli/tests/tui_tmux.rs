//! The real binary's terminal UI driven in tmux (send-keys / capture-pane), evaluating through
//! a real evaluator process on a Unix socket: unlock, enter patients, wait for the encrypted
//! result, and check that the class shown is the class the CLI gives for the same values with
//! the in-process engine — for a high-risk and a low-risk patient. Also a wrong password
//! first. Needs tmux (`.ci/run` installs it).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

/// (field value as typed, CLI `-v` argument) in form order: known CVD, then the model's
/// features.
const HIGH: [(&str, &str); 7] = [
    ("n", "known_cvd=0"),
    ("72", "age=72"),
    ("y", "told_diabetes=1"),
    ("165", "systolic_bp=165"),
    ("y", "current_smoker=1"),
    ("y", "male=1"),
    ("y", "told_high_bp=1"),
];
const LOW: [(&str, &str); 7] = [
    ("n", "known_cvd=0"),
    ("34", "age=34"),
    ("n", "told_diabetes=0"),
    ("112", "systolic_bp=112"),
    ("n", "current_smoker=0"),
    ("n", "male=0"),
    ("n", "told_high_bp=0"),
];

/// A PREVENT patient: (form value as typed, JSON field) after the reference, in form order
/// (known CVD first, then the model's inputs).
const PREVENT: [(&str, &str); 11] = [
    ("n", r#""known_cvd":0"#),
    ("58", r#""age":58"#),
    ("m", r#""sex":"male""#),
    ("142", r#""sbp":142"#),
    ("y", r#""bp_tx":1"#),
    ("215", r#""total_c":215"#),
    ("44", r#""hdl_c":44"#),
    ("n", r#""statin":0"#),
    ("n", r#""dm":0"#),
    ("y", r#""smoking":1"#),
    ("82", r#""egfr":82"#),
];

struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            // CI may run without a terminal: give tmux a known outer TERM.
            .env("TERM", "xterm-256color")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux runs (install it: apt-get install tmux)");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "ui"];
        args.extend(keys);
        self.run(&args);
    }

    fn type_literal(&self, text: &str) {
        self.run(&["send-keys", "-t", "ui", "-l", text]);
    }

    fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["-L", &self.socket, "has-session", "-t", "ui"])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "ui"])
    }

    fn wait_for(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "`{needle}` never appeared; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn cli_class(env: &Env, patient_ref: &str, values: &[(&str, &str)]) -> String {
    let mut args = vec!["screen", "--patient-ref", patient_ref, "--format", "json"];
    for (_, v) in values {
        args.extend(["-v", v]);
    }
    let out = env.run(&args, true);
    assert_ok(&out);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    rows[0]["risk_class"].as_str().expect("class").to_string()
}

/// `risk_text` per model id, as `screen --model prevent` gives it for the same values.
fn cli_prevent(env: &Env, patient_ref: &str, values: &[(&str, &str)]) -> Vec<(String, String)> {
    let fields: Vec<&str> = values.iter().map(|(_, f)| *f).collect();
    let json = format!(r#"{{"patient_id":"{patient_ref}",{}}}"#, fields.join(","));
    let file = env.write("prevent-patient.json", json.as_bytes());
    let out = env.run(
        &[
            "screen",
            "--model",
            "prevent",
            "--json",
            &format!("@{}", file.display()),
            "--format",
            "json",
        ],
        true,
    );
    assert_ok(&out);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    rows.as_array()
        .expect("array")
        .iter()
        .map(|r| {
            (
                r["model_id"].as_str().expect("model").to_string(),
                r["risk_text"].as_str().expect("risk").to_string(),
            )
        })
        .collect()
}

fn enter_patient(tmux: &Tmux, patient_ref: &str, values: &[(&str, &str)]) -> String {
    tmux.type_literal(patient_ref);
    for (typed, _) in values {
        tmux.send(&["Tab"]);
        tmux.type_literal(typed);
    }
    tmux.send(&["Enter"]);
    let screen = tmux.wait_for("FLAGGED —", Duration::from_secs(120));
    assert!(
        screen.contains("not a diagnosis"),
        "disclaimer shown:\n{screen}"
    );
    // cvd-lr v3 is a pre-screen: "flagged" is its high class.
    if screen.contains("NOT FLAGGED") {
        "low".into()
    } else if screen.contains("FLAGGED — take the labs") {
        "high".into()
    } else {
        panic!("no class on screen:\n{screen}")
    }
}

#[test]
fn the_tui_shows_the_class_the_cli_computes() {
    let env = Env::initialized();
    let evaluator = Evaluator::start(env.tmp.path());
    assert_ok(
        &env.command()
            .env("PULSECURE_EVALUATOR", evaluator.address())
            .args(["keys", "register", "--password-file"])
            .arg(&env.password_file)
            .output()
            .expect("register"),
    );
    let tmux = Tmux {
        socket: format!("pulsecure-test-{}", std::process::id()),
    };
    let command = format!(
        "PULSECURE_EVALUATOR={} {} --data-dir {} tui",
        evaluator.address(),
        env!("CARGO_BIN_EXE_pulsecure"),
        env.data.display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "ui",
        "-x",
        "100",
        "-y",
        "32",
        &command,
    ]);
    tmux.wait_for("Unlock the key vault", Duration::from_secs(20));

    // A wrong password is refused with the attempt count, never echoed.
    tmux.type_literal("not the password");
    tmux.send(&["Enter"]);
    let screen = tmux.wait_for("wrong password (attempt 1 of 5)", Duration::from_secs(30));
    assert!(!screen.contains("not the password"));
    std::thread::sleep(Duration::from_millis(1100)); // the delay after one failure

    tmux.type_literal(PASSWORD);
    let screen = tmux.screen();
    assert!(!screen.contains(PASSWORD), "the password is not echoed");
    tmux.send(&["Enter"]);
    tmux.wait_for("New screening", Duration::from_secs(60));

    let shown_high = enter_patient(&tmux, "TUI-HIGH", &HIGH);
    tmux.send(&["Enter"]); // next patient
    tmux.wait_for("New screening", Duration::from_secs(10));
    let shown_low = enter_patient(&tmux, "TUI-LOW", &LOW);

    // F6: the PREVENT form; both outputs through the same evaluator.
    tmux.send(&["Enter"]);
    tmux.wait_for("New screening", Duration::from_secs(10));
    tmux.send(&["F6"]);
    tmux.wait_for("PREVENT 10-year", Duration::from_secs(10));
    tmux.type_literal("TUI-PREVENT");
    for (typed, _) in &PREVENT {
        tmux.send(&["Tab"]);
        tmux.type_literal(typed);
    }
    tmux.send(&["Enter"]);
    let prevent_screen = tmux.wait_for("evaluated under encryption", Duration::from_secs(120));
    assert!(
        prevent_screen.contains("not a diagnosis"),
        "{prevent_screen}"
    );
    // Known CVD: no estimate, nothing encrypted, stored as such.
    tmux.send(&["Enter"]);
    tmux.wait_for("New screening", Duration::from_secs(10));
    tmux.type_literal("TUI-KNOWN-CVD");
    for (i, (typed, _)) in PREVENT.iter().enumerate() {
        tmux.send(&["Tab"]);
        tmux.type_literal(if i == 0 { "y" } else { typed });
    }
    tmux.send(&["Enter"]);
    let not_eligible = tmux.wait_for("no estimate", Duration::from_secs(60));
    assert!(
        not_eligible.contains("secondary prevention"),
        "{not_eligible}"
    );

    // History lists every screening, newest first, the not-eligible ones as such.
    tmux.send(&["F3"]);
    let history = tmux.wait_for("TUI-HIGH", Duration::from_secs(20));
    assert!(history.contains("TUI-LOW"), "{history}");
    assert!(history.contains("prevent-ascvd-10y"), "{history}");
    assert!(history.contains("not eligible"), "{history}");
    tmux.send(&["q"]);
    // The session ends when the program exits.
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.alive() {
        assert!(Instant::now() < deadline, "q did not quit");
        std::thread::sleep(Duration::from_millis(100));
    }

    for (model, risk) in cli_prevent(&env, "CLI-PREVENT", &PREVENT) {
        let line = prevent_screen
            .lines()
            .find(|l| l.contains(&format!("{model} v")))
            .unwrap_or_else(|| panic!("{model} shown:\n{prevent_screen}"));
        assert!(
            line.contains(&format!(" {risk} ")),
            "the TUI shows {model} as the CLI does ({risk}): {line}"
        );
    }
    assert_eq!(shown_high, cli_class(&env, "CLI-HIGH", &HIGH));
    assert_eq!(shown_low, cli_class(&env, "CLI-LOW", &LOW));
    assert_ne!(
        shown_high, shown_low,
        "the two patients fall on either side"
    );
    env.assert_log_free_of(&[
        "TUI-HIGH",
        "TUI-LOW",
        "TUI-PREVENT",
        "TUI-KNOWN-CVD",
        "not the password",
    ]);
    assert!(env.log_text().contains("screening stored"));
    let evaluated = std::fs::read_to_string(&evaluator.log).expect("evaluator log");
    assert!(
        evaluated.matches("Evaluate").count() >= 2,
        "the TUI's screenings went through the evaluator: {evaluated}"
    );
}
