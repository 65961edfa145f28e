//! `pulsecure model ...`: publisher keys and signatures (offline tools), verification and
//! inspection of a model file, and — through the workstation — installation with
//! anti-rollback and explicit trust of more publisher keys.

use std::path::{Path, PathBuf};

use pulsecure_app::models::{install as install_release, trust_key as trust_publisher};
use pulsecure_app::DataDir;
use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::domain::released::ReleasedModel;
use pulsecure_core::usecase::model_service::InstallOutcome;
use pulsecure_signing::publish::{generate_keypair, sign_model};
use pulsecure_signing::verify::sha256_hex;
use pulsecure_signing::{verify_model, PublisherKey, VerifiedModel};
use pulsecure_vault::{fingerprint, write_atomic};
use secrecy::ExposeSecret;

use crate::cli::{
    ModelFileArgs, ModelInstallArgs, ModelKeygenArgs, ModelSignArgs, ModelVerifyArgs, TrustKeyArgs,
};
use crate::error::CliError;
use crate::password;

type Result<T> = std::result::Result<T, CliError>;

fn signature_path(args: &ModelFileArgs) -> PathBuf {
    args.signature.clone().unwrap_or_else(|| {
        let mut p = args.model.clone().into_os_string();
        p.push(".minisig");
        PathBuf::from(p)
    })
}

/// Largest model or signature file read (a model is a few kilobytes).
const MAX_MODEL_FILE: u64 = 4 * 1024 * 1024;

/// Read a model or signature file once, with a bound (a device or endless file is refused).
fn read(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_MODEL_FILE + 1).read_to_end(&mut bytes))
        .map_err(|e| CliError::io(format!("reading {}", path.display()), e))?;
    if bytes.len() as u64 > MAX_MODEL_FILE {
        return Err(CliError::Input(format!(
            "{} is larger than {MAX_MODEL_FILE} bytes; not a model file",
            path.display()
        )));
    }
    Ok(bytes)
}

fn read_text(path: &Path) -> Result<String> {
    String::from_utf8(read(path)?)
        .map_err(|_| CliError::Input(format!("{} is not UTF-8 text", path.display())))
}

/// `model keygen`.
pub fn keygen(args: &ModelKeygenArgs) -> Result<()> {
    let password = password::new_from_args(&args.password)?;
    let (public, secret) = generate_keypair(password.expose_secret().to_string())?;
    write_atomic(&args.secret_key, secret.as_bytes())?;
    write_atomic(&args.public_key, public.as_bytes())?;
    let key = PublisherKey::parse(&public, "new")?;
    println!(
        "public key {} (key id {}, {})",
        args.public_key.display(),
        key.key_id(),
        key.fingerprint()
    );
    println!(
        "secret key {} (password-protected; keep it offline, never commit it)",
        args.secret_key.display()
    );
    Ok(())
}

/// `model sign`.
pub fn sign(args: &ModelSignArgs) -> Result<()> {
    let bytes = read(&args.model)?;
    let secret = read_text(&args.secret_key)?;
    let password = password::current(&args.password)?;
    let signature = sign_model(&bytes, &secret, password.expose_secret().to_string())?;
    let out = args.out.clone().unwrap_or_else(|| {
        signature_path(&ModelFileArgs {
            model: args.model.clone(),
            signature: None,
        })
    });
    write_atomic(&out, signature.as_bytes())?;
    println!("signature written to {}", out.display());
    Ok(())
}

fn verify_file(args: &ModelFileArgs, keys: &[PublisherKey]) -> Result<VerifiedModel> {
    let bytes = read(&args.model)?;
    let signature = read_text(&signature_path(args))?;
    Ok(verify_model(&bytes, &signature, keys)?)
}

/// `model verify`.
pub fn verify(args: &ModelVerifyArgs) -> Result<()> {
    let keys = match &args.public_key {
        Some(path) => vec![PublisherKey::parse(&read_text(path)?, "command line")?],
        None => PublisherKey::release_keys()?,
    };
    let v = verify_file(&args.file, &keys)?;
    println!(
        "OK: model {} version {} signed by key {} ({}), sha256 {}",
        v.claim.model_id, v.claim.version, v.key_id, v.key_origin, v.claim.sha256
    );
    Ok(())
}

/// `model inspect`: shows the file even when its signature is missing or invalid (and
/// says so).
pub fn inspect(args: &ModelFileArgs) -> Result<()> {
    let bytes = read(&args.model)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| CliError::Input("model.json is not UTF-8".into()))?;
    let released = ReleasedModel::from_json(text)?;
    println!(
        "model        {} version {} (schema {})",
        released.id(),
        released.version(),
        released.schema_version()
    );
    println!("sha256       {}", sha256_hex(&bytes));
    println!("fingerprint  {}", fingerprint(&bytes));
    match &released {
        ReleasedModel::Logistic(model) => {
            if let Some(target) = model.target() {
                let p = &target.population;
                println!(
                    "population   {} (outside it: not_eligible, nothing encrypted){}",
                    p.rule,
                    if p.excludes_known_cvd() {
                        "; input known_cvd (0|1) required"
                    } else {
                        ""
                    }
                );
                if let Some(rule) = target.label_rule() {
                    println!("question     {rule}?");
                }
            }
            println!("features     {}", model.features().len());
            for f in model.features() {
                println!("  {:<24}{}", f.name, f.allowed_range());
            }
        }
        ReleasedModel::Equation(model) => inspect_equation(model),
    }
    let doc: serde_json::Value = serde_json::from_str(text)?;
    if let Some(metrics) = doc.get("metrics") {
        println!("metrics      {}", serde_json::to_string(metrics)?);
    }
    match read_text(&signature_path(args)) {
        Err(_) => println!("signature    none found (an unsigned model cannot be installed)"),
        Ok(sig) => match verify_model(&bytes, &sig, &PublisherKey::release_keys()?) {
            Ok(v) => println!("signature    valid, key id {} ({})", v.key_id, v.key_origin),
            Err(e) => println!("signature    not valid with the release key: {e}"),
        },
    }
    Ok(())
}

/// What `model inspect` shows of a published equation: its inputs with units and
/// published ranges, who is eligible, the encrypted circuit's shape and the categories.
fn inspect_equation(model: &EquationModel) {
    use pulsecure_core::domain::equation::InputKind;
    let eq = model.equation();
    println!("inputs       {}", eq.inputs.len());
    for input in &eq.inputs {
        let kind = match &input.kind {
            InputKind::Number { unit, min, max } => format!("{min}-{max} {unit}"),
            InputKind::Binary => "0|1".to_string(),
            InputKind::Choice { levels } => levels.join("|"),
        };
        println!("  {:<24}{kind}", input.name);
    }
    let e = model.eligibility();
    println!(
        "eligible     ages {}-{}{}",
        e.min_age,
        e.max_age,
        if e.excludes_known_cvd {
            ", without known CVD (else not_eligible)"
        } else {
            ""
        }
    );
    println!(
        "circuit      {} coefficient group(s), {} encrypted output(s), {} slots, 0 bootstrappings \
         (a linear map on LWE ciphertexts; the link and table run on the client after decryption)",
        model.group_count(),
        model.output_count(),
        model.slot_weights().len()
    );
    let output = model.output();
    let scale = f64::from(output.probability_scale);
    let bands: Vec<String> = output
        .categories
        .iter()
        .map(|b| match b.below {
            Some(u) => format!("{} < {}%", b.name, f64::from(u) / scale * 100.0),
            None => b.name.clone(),
        })
        .collect();
    println!("categories   {}", bands.join(", "));
}

/// `model install`: verifies and installs exactly the bytes read once.
pub fn install(dir: &DataDir, args: &ModelInstallArgs) -> Result<()> {
    let bytes = read(&args.file.model)?;
    let signature = read_text(&signature_path(&args.file))?;
    // Opening the records also records the embedded release as the anti-rollback baseline.
    let records = password::open_records(dir, &args.password)?;
    let report = install_release(
        &records,
        &bytes,
        &signature,
        &args.file.model.display().to_string(),
    )?;
    match report.outcome {
        InstallOutcome::Installed => println!(
            "installed model {} version {} (signed by {}); it is now active",
            report.model_id, report.version, report.signer
        ),
        InstallOutcome::AlreadyInstalled => println!(
            "model {} version {} is already installed",
            report.model_id, report.version
        ),
    }
    Ok(())
}

/// `model trust-key`.
pub fn trust_key(dir: &DataDir, args: &TrustKeyArgs) -> Result<()> {
    let key = PublisherKey::parse(&read_text(&args.public_key)?, &args.label)?;
    let records = password::open_records(dir, &args.password)?;
    if trust_publisher(records.database(), &key, &args.model_id, &args.label)? {
        println!(
            "now trusting key {} ({}) as {:?} to publish model {}",
            key.key_id(),
            key.fingerprint(),
            args.label,
            args.model_id
        );
    } else {
        println!(
            "key {} was already trusted for model {}",
            key.key_id(),
            args.model_id
        );
    }
    Ok(())
}
