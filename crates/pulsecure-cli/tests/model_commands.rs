//! `model ...` through the real binary: publisher keys and signatures, installation with
//! anti-rollback across restarts, refusals, and interoperability with the `minisign` tool.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{assert_fails, assert_ok, stdout, Env};

/// The embedded release (v3); test releases are made from it with higher versions.
const MODEL: &str = include_str!("../../../models/cvd-lr/v3/model.json");
const PUBLISHER_PASSWORD: &str = "publisher secret pass";

/// A publisher key pair made by `pulsecure model keygen`, and a folder of releases.
struct Publisher {
    public: PathBuf,
    secret: PathBuf,
    password: PathBuf,
}

fn publisher(env: &Env) -> Publisher {
    let password = env.write(
        "publisher-password",
        format!("{PUBLISHER_PASSWORD}\n").as_bytes(),
    );
    let public = env.path("publisher.pub");
    let secret = env.path("publisher.key");
    let out = env
        .command()
        .args(["model", "keygen", "--public-key"])
        .arg(&public)
        .arg("--secret-key")
        .arg(&secret)
        .arg("--password-file")
        .arg(&password)
        .output()
        .expect("runs");
    assert_ok(&out);
    Publisher {
        public,
        secret,
        password,
    }
}

/// Write `model.json` for `version` (optionally altered) into its own folder and sign it.
fn release(env: &Env, p: &Publisher, version: u64, tweak: &str) -> PathBuf {
    let dir = env.path(&format!("release-{version}{tweak}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut text = MODEL.replace("\"version\": 3,", &format!("\"version\": {version},"));
    if !tweak.is_empty() {
        text = text.replace(
            "\"description\": \"",
            &format!("\"description\": \"{tweak} "),
        );
    }
    let path = dir.join("model.json");
    std::fs::write(&path, text).expect("write");
    let out = env
        .command()
        .args(["model", "sign"])
        .arg(&path)
        .arg("--secret-key")
        .arg(&p.secret)
        .arg("--password-file")
        .arg(&p.password)
        .output()
        .expect("runs");
    assert_ok(&out);
    path
}

fn install(env: &Env, model: &Path) -> std::process::Output {
    env.run(&["model", "install", model.to_str().expect("utf8")], true)
}

fn screened_version(env: &Env, patient_ref: &str) -> u64 {
    let mut args = vec!["screen", "--patient-ref", patient_ref, "--format", "json"];
    let values = [
        "known_cvd=0",
        "age=50",
        "told_diabetes=0",
        "systolic_bp=121",
        "current_smoker=0",
        "male=0",
        "told_high_bp=0",
    ];
    for v in values {
        args.extend(["-v", v]);
    }
    let out = env.run(&args, true);
    assert_ok(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    doc[0]["model_version"].as_u64().expect("version")
}

#[test]
fn install_upgrades_and_refuses_rollback_across_restarts() {
    let env = Env::initialized();
    let p = publisher(&env);
    let v4 = release(&env, &p, 4, "");

    // Signed by a key nobody trusted yet: refused.
    assert_fails(&install(&env, &v4), 4, "untrusted key");
    // Trust it explicitly (audited), then install.
    let out = env.run(
        &[
            "model",
            "trust-key",
            p.public.to_str().expect("utf8"),
            "--label",
            "test publisher",
        ],
        true,
    );
    assert_ok(&out);
    let out = install(&env, &v4);
    assert_ok(&out);
    assert!(stdout(&out).contains("installed model cvd-lr version 4"));
    // Every later process (a restart) screens with version 4.
    assert_eq!(screened_version(&env, "after-upgrade"), 4);

    // The first release (version 1, signed by the retired release key): a rollback.
    let v1 = env.path("v1-model.json");
    std::fs::write(&v1, include_str!("../../../models/cvd-lr/v1/model.json")).expect("write");
    std::fs::write(
        env.path("v1-model.json.minisig"),
        include_str!("../../../models/cvd-lr/v1/model.json.minisig"),
    )
    .expect("write");
    assert_fails(
        &install(&env, &v1),
        4,
        "version 4 is already installed (rollback)",
    );
    // Same version, different content.
    let v4b = release(&env, &p, 4, "altered");
    assert_fails(
        &install(&env, &v4b),
        4,
        "version 4 refused: the installed release with this version has different content",
    );
    // A tampered byte in a correctly signed newer release.
    let v5 = release(&env, &p, 5, "");
    let text = std::fs::read_to_string(&v5)
        .expect("read")
        .replacen("\"bias\": ", "\"bias\": 1", 1);
    std::fs::write(&v5, text).expect("tamper");
    assert_fails(&install(&env, &v5), 4, "was altered");
    // Truncated signature.
    let v6 = release(&env, &p, 6, "");
    let sig = v6.with_extension("json.minisig");
    let sig_text = std::fs::read_to_string(&sig).expect("sig");
    std::fs::write(&sig, &sig_text[..sig_text.len() / 2]).expect("truncate");
    assert_fails(&install(&env, &v6), 4, "signature file is malformed");
    // No signature at all.
    std::fs::remove_file(&sig).expect("remove");
    assert_fails(&install(&env, &v6), 1, "model.json.minisig");

    // After all the refusals, version 4 is still active.
    assert_eq!(screened_version(&env, "after-refusals"), 4);
    // Re-installing the same release is harmless.
    let out = install(&env, &v4);
    assert_ok(&out);
    assert!(stdout(&out).contains("already installed"));
}

/// `model install` reads the model once and installs exactly the bytes it verified (review
/// finding 8): the model file is a FIFO that serves the signed release to the first reader
/// and altered bytes to any later one. Before the fix, install read the file a second time
/// after verifying it and installed the altered copy.
#[test]
fn install_writes_exactly_the_verified_bytes_even_if_the_file_changes() {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let env = Env::initialized();
    let p = publisher(&env);
    let signed = release(&env, &p, 4, "");
    assert_ok(&env.run(
        &[
            "model",
            "trust-key",
            p.public.to_str().expect("utf8"),
            "--label",
            "test publisher",
        ],
        true,
    ));
    let genuine = std::fs::read(&signed).expect("signed model");
    let folder = env.path("swapping");
    std::fs::create_dir_all(&folder).expect("dir");
    let fifo = folder.join("model.json");
    std::fs::copy(
        signed.with_file_name("model.json.minisig"),
        folder.join("model.json.minisig"),
    )
    .expect("signature");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (fifo, done, genuine) = (fifo.clone(), Arc::clone(&done), genuine.clone());
        std::thread::spawn(move || {
            let mut served = 0usize;
            while !done.load(Ordering::SeqCst) {
                // Non-blocking: opening fails until a reader has the FIFO open.
                match std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
                    .open(&fifo)
                {
                    Ok(mut f) => {
                        let bytes = if served == 0 {
                            genuine.clone()
                        } else {
                            String::from_utf8_lossy(&genuine)
                                .replace("\"version\": 3,", "\"version\": 3, \"x\": 1,")
                                .into_bytes()
                        };
                        let _ = f.write_all(&bytes);
                        drop(f);
                        served += 1;
                        // Let this reader see the end of the file and close before anyone
                        // can open the FIFO again (a later open is a second read).
                        std::thread::sleep(std::time::Duration::from_secs(1));
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
            served
        })
    };
    let out = install(&env, &fifo);
    done.store(true, Ordering::SeqCst);
    let served = writer.join().expect("writer");
    assert_ok(&out);
    assert_eq!(served, 1, "the model file was read {served} times");
    let installed = std::fs::read(env.data.join("models/cvd-lr/4/model.json")).expect("installed");
    assert_eq!(installed, genuine);
    assert_eq!(screened_version(&env, "after-install"), 4);
}

#[test]
fn verify_and_inspect() {
    let env = Env::new();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/cvd-lr/v2/model.json");
    let out = env.run(&["model", "verify", model.to_str().expect("utf8")], false);
    assert_ok(&out);
    assert!(stdout(&out).contains("OK: model cvd-lr version 2 signed by key 955762AD02AEB7D9"));
    // The default release, signed by the key of the 2026-12-06 rotation.
    let v3 = model.with_file_name("../v3/model.json");
    let out = env.run(&["model", "inspect", v3.to_str().expect("utf8")], false);
    assert_ok(&out);
    let text = stdout(&out);
    for needle in [
        "model        cvd-lr version 3",
        "population   adults aged 30-79 without known cardiovascular disease",
        "input known_cvd (0|1) required",
        "question     PREVENT base 10-year total CVD risk >= 7.5 %?",
        "systolic_bp",
        "signature    valid, key id 82A0770BF539882A",
    ] {
        assert!(text.contains(needle), "{needle} missing in\n{text}");
    }
    let v1 = model.with_file_name("../v1/model.json");
    let out = env.run(&["model", "verify", v1.to_str().expect("utf8")], false);
    assert_ok(&out);
    assert!(stdout(&out).contains("OK: model cvd-lr version 1 signed by key 860389025CCBA8E1"));
    let out = env.run(&["model", "inspect", model.to_str().expect("utf8")], false);
    assert_ok(&out);
    let text = stdout(&out);
    for needle in [
        "model        cvd-lr version 2",
        "sha256",
        "fingerprint  SHA256:",
        "general_health",
        "1 (excellent or very good), 2 (good), 3 (fair), 4 (poor)",
        "metrics",
        "signature    valid, key id",
    ] {
        assert!(text.contains(needle), "{needle} missing in\n{text}");
    }
    // A published equation (schema 2): its inputs with the published ranges, who is
    // eligible, the circuit and the categories.
    let prevent =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/prevent-cvd-10y/v2/model.json");
    let out = env.run(
        &["model", "inspect", prevent.to_str().expect("utf8")],
        false,
    );
    assert_ok(&out);
    let text = stdout(&out);
    for needle in [
        "model        prevent-cvd-10y version 2 (schema 2)",
        "total_c                 130-320 mg/dL",
        "sex                     female|male",
        "eligible     ages 30-79, without known CVD",
        "0 bootstrappings",
        "low < 5%, borderline < 7.5%, intermediate < 20%, high",
        "signature    valid, key id",
    ] {
        assert!(text.contains(needle), "{needle} missing in\n{text}");
    }
}

fn minisign() -> Command {
    Command::new("minisign")
}

#[test]
fn interoperates_with_the_minisign_tool_both_ways() {
    let env = Env::new();
    // Ours, verified by `minisign -V`.
    let p = publisher(&env);
    let ours = release(&env, &p, 5, "");
    let out = minisign()
        .arg("-V")
        .arg("-p")
        .arg(&p.public)
        .arg("-m")
        .arg(&ours)
        .output()
        .expect("the minisign tool is installed (.ci/run installs it)");
    assert_ok(&out);
    assert!(stdout(&out).contains("pulsecure-model id=cvd-lr version=5"));

    // Theirs (`minisign -G` / `minisign -S`), verified by `pulsecure model verify`.
    let public = env.path("theirs.pub");
    let secret = env.path("theirs.key");
    let out = minisign()
        .args(["-G", "-W", "-f", "-p"])
        .arg(&public)
        .arg("-s")
        .arg(&secret)
        .output()
        .expect("minisign -G");
    assert_ok(&out);
    let model = env.path("theirs-model.json");
    std::fs::write(&model, MODEL).expect("write");
    let sha = pulsecure_sha256(MODEL.as_bytes());
    let out = minisign()
        .args(["-S", "-s"])
        .arg(&secret)
        .arg("-m")
        .arg(&model)
        .arg("-t")
        .arg(format!("pulsecure-model id=cvd-lr version=3 sha256={sha}"))
        .output()
        .expect("minisign -S");
    assert_ok(&out);
    let out = env.run(
        &[
            "model",
            "verify",
            model.to_str().expect("utf8"),
            "--public-key",
            public.to_str().expect("utf8"),
        ],
        false,
    );
    assert_ok(&out);
    // Without that key (release key only), the same signature is untrusted.
    let out = env.run(&["model", "verify", model.to_str().expect("utf8")], false);
    assert_fails(&out, 4, "untrusted key");
}

fn pulsecure_sha256(bytes: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(bytes)?;
            child.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("digest")
        .to_string()
}
