//! An installation made by the v1 binary upgrades to the embedded release (v3) through
//! anti-rollback: the data directory in `fixtures/v1-data-dir` was left by the release binary
//! that embedded cvd-lr v1 (see its README). Opened by this binary, v3 becomes the active
//! model and is recorded as the new floor, the v1 screening stays readable through v1's
//! features, and v1 and v2 can no longer be installed. (Screening afterwards needs the
//! fixture's 30 MB server key, left out of the repository; new screenings under v3 are
//! covered everywhere else.)

mod support;

use std::path::Path;

use support::{assert_fails, assert_ok, stdout, Env};

const FIXTURE_PASSWORD: &str = "fixture password 1";

fn v1_installation() -> Env {
    let env = Env::new();
    std::fs::create_dir(&env.data).expect("data dir");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-data-dir");
    for name in ["vault.psv", "pulsecure.db"] {
        std::fs::copy(fixture.join(name), env.data.join(name)).expect("copy fixture");
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&env.data, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::fs::write(&env.password_file, format!("{FIXTURE_PASSWORD}\n")).expect("password");
    env
}

#[test]
fn a_v1_installation_upgrades_to_the_embedded_release_and_keeps_its_v1_screening() {
    let env = v1_installation();

    // The v1 screening, read back through v1's own features.
    let out = env.run(&["history", "--format", "json"], true);
    assert_ok(&out);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rows.as_array().map(Vec::len), Some(1));
    assert_eq!(rows[0]["patient_id"], "UPGRADE-1");
    assert_eq!(rows[0]["model_version"], 1);
    assert_eq!(rows[0]["probability_code"], 717);
    assert_eq!(rows[0]["features"]["systolic_bp"], 150.0);
    assert_eq!(rows[0]["risk_text"], "18 %");

    // Opening the installation recorded the embedded v3 as the new floor: v1, which this
    // installation ran until now, and v2 are rollbacks.
    let v1 = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/cvd-lr/v1/model.json");
    let out = env.run(&["model", "install", v1.to_str().expect("utf8")], true);
    assert_fails(&out, 4, "version 3 is already installed (rollback)");
    let v2 = v1.with_file_name("../v2/model.json");
    let out = env.run(&["model", "install", v2.to_str().expect("utf8")], true);
    assert_fails(&out, 4, "version 3 is already installed (rollback)");
    // v3 itself is what is installed.
    let v3 = v1.with_file_name("../v3/model.json");
    let out = env.run(&["model", "install", v3.to_str().expect("utf8")], true);
    assert_ok(&out);
    assert!(
        stdout(&out).contains("already installed"),
        "{}",
        stdout(&out)
    );
    // The database is consistent after the upgrade.
    assert_ok(&env.run(&["db", "check"], true));
}
