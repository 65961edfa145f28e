//! `pulsecure model ...`: publisher keys and signatures, verification, inspection,
//! installation with anti-rollback, and explicit trust of more publisher keys.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use pulsecure_core::app::model_service::{InstallOutcome, ModelService};
use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::ports::registry::AcceptedModel;
use pulsecure_core::Model;
use pulsecure_signing::publish::{generate_keypair, sign_model};
use pulsecure_signing::verify::sha256_hex;
use pulsecure_signing::{verify_model, PublisherKey, VerifiedModel};
use pulsecure_store::Database;
use pulsecure_vault::{fingerprint, write_atomic};
use secrecy::ExposeSecret;

use crate::cli::{
    ModelFileArgs, ModelInstallArgs, ModelKeygenArgs, ModelSignArgs, ModelVerifyArgs, TrustKeyArgs,
};
use crate::embedded::default_model;
use crate::embedded::IntegrityError;
use crate::password;
use crate::session::{open_database, DataDir, Unlocked};
use pulsecure_core::embedded_model::DEFAULT_MODEL_SHA256;

fn signature_path(args: &ModelFileArgs) -> PathBuf {
    args.signature.clone().unwrap_or_else(|| {
        let mut p = args.model.clone().into_os_string();
        p.push(".minisig");
        PathBuf::from(p)
    })
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn read_text(path: &Path) -> Result<String> {
    String::from_utf8(read(path)?).with_context(|| format!("{} is not UTF-8 text", path.display()))
}

/// The release key plus every key trusted in the database.
pub fn trusted_keys(db: &Database) -> Result<Vec<PublisherKey>> {
    let mut keys = vec![PublisherKey::release()?];
    for record in db.trusted_keys()? {
        keys.push(PublisherKey::parse(
            &record.public_key,
            &format!("trusted: {}", record.label),
        )?);
    }
    Ok(keys)
}

/// Where an installed release lives in the data directory.
fn installed_dir(dir: &DataDir, model_id: &str, version: u64) -> PathBuf {
    dir.root
        .join("models")
        .join(model_id)
        .join(version.to_string())
}

/// The model to screen with: the highest accepted release of the embedded model's id,
/// re-verified from its files; the embedded model when that is what was accepted (or when
/// the binary carries a newer one, which is then recorded).
pub fn active_model(dir: &DataDir, db: &Database) -> Result<Model> {
    let embedded = default_model()?;
    let service = ModelService::new(db);
    let accepted = pulsecure_core::ports::registry::ModelRegistry::accepted(db, embedded.id())?;
    match accepted {
        Some(a) if a.version > embedded.version() => {
            let folder = installed_dir(dir, &a.model_id, a.version);
            let bytes = read(&folder.join("model.json"))?;
            let signature = read_text(&folder.join("model.json.minisig"))?;
            let verified = verify_model(&bytes, &signature, &trusted_keys(db)?)?;
            if verified.claim.sha256 != a.sha256 {
                return Err(IntegrityError(format!(
                    "installed model {} version {} differs from the release recorded at install",
                    a.model_id, a.version
                ))
                .into());
            }
            Ok(verified.model)
        }
        Some(a) if a.version == embedded.version() && a.sha256 != DEFAULT_MODEL_SHA256 => {
            Err(IntegrityError(format!(
                "model {} version {} recorded here differs from the embedded release",
                a.model_id, a.version
            ))
            .into())
        }
        _ => {
            let candidate = AcceptedModel {
                model_id: embedded.id().to_string(),
                version: embedded.version(),
                sha256: DEFAULT_MODEL_SHA256.to_string(),
            };
            if service.install(&candidate)? == InstallOutcome::Installed {
                db.log_event(
                    AuditEvent::ModelInstalled,
                    &format!("{} v{} (embedded)", embedded.id(), embedded.version()),
                )?;
            }
            Ok(embedded)
        }
    }
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
        None => vec![PublisherKey::release()?],
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
    let text = std::str::from_utf8(&bytes).context("model.json is not UTF-8")?;
    let model = Model::from_json(text)?;
    println!("model        {} version {}", model.id(), model.version());
    println!("sha256       {}", sha256_hex(&bytes));
    println!("fingerprint  {}", fingerprint(&bytes));
    println!("features     {}", model.features().len());
    for f in model.features() {
        println!("  {:<24}{}", f.name, f.allowed_range());
    }
    let doc: serde_json::Value = serde_json::from_str(text)?;
    if let Some(metrics) = doc.get("metrics") {
        println!("metrics      {}", serde_json::to_string(metrics)?);
    }
    match read_text(&signature_path(args)) {
        Err(_) => println!("signature    none found (an unsigned model cannot be installed)"),
        Ok(sig) => match verify_model(&bytes, &sig, &[PublisherKey::release()?]) {
            Ok(v) => println!("signature    valid, key id {} ({})", v.key_id, v.key_origin),
            Err(e) => println!("signature    not valid with the release key: {e}"),
        },
    }
    Ok(())
}

/// `model install`.
pub fn install(dir: &DataDir, args: &ModelInstallArgs) -> Result<()> {
    let password = password::current(&args.password)?;
    let unlocked = Unlocked::open(dir, &password)?;
    let db = open_database(dir, &unlocked)?;
    // The embedded release is the baseline of the anti-rollback state.
    active_model(dir, &db)?;
    let refuse = |db: &Database, what: String, err: anyhow::Error| -> Result<()> {
        db.log_event(AuditEvent::ModelRefused, &what)?;
        Err(err)
    };
    let verified = match verify_file(&args.file, &trusted_keys(&db)?) {
        Ok(v) => v,
        Err(e) => return refuse(&db, format!("{}: {e:#}", args.file.model.display()), e),
    };
    let candidate = AcceptedModel {
        model_id: verified.claim.model_id.clone(),
        version: verified.claim.version,
        sha256: verified.claim.sha256.clone(),
    };
    // Files first (atomically), then the record: a crash in between leaves an unreferenced
    // copy, never a record without its files.
    let folder = installed_dir(dir, &candidate.model_id, candidate.version);
    let service = ModelService::new(&db);
    let outcome = match service.check(&candidate) {
        Ok(o) => o,
        Err(e) => {
            let e = anyhow::Error::from(e);
            return refuse(
                &db,
                format!("{} v{}: {e:#}", candidate.model_id, candidate.version),
                e,
            );
        }
    };
    if outcome == InstallOutcome::Installed {
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("creating {}", folder.display()))?;
        write_atomic(&folder.join("model.json"), &read(&args.file.model)?)?;
        write_atomic(
            &folder.join("model.json.minisig"),
            read_text(&signature_path(&args.file))?.as_bytes(),
        )?;
        pulsecure_core::ports::registry::ModelRegistry::record(&db, &candidate)?;
    }
    match outcome {
        InstallOutcome::Installed => {
            db.log_event(
                AuditEvent::ModelInstalled,
                &format!(
                    "{} v{} signed by {}",
                    candidate.model_id, candidate.version, verified.key_id
                ),
            )?;
            tracing::info!(
                model_id = candidate.model_id.as_str(),
                model_version = candidate.version,
                signer = verified.key_id.as_str(),
                "model installed"
            );
            println!(
                "installed model {} version {} (signed by {}); it is now active",
                candidate.model_id, candidate.version, verified.key_id
            );
        }
        InstallOutcome::AlreadyInstalled => println!(
            "model {} version {} is already installed",
            candidate.model_id, candidate.version
        ),
    }
    Ok(())
}

/// `model trust-key`.
pub fn trust_key(dir: &DataDir, args: &TrustKeyArgs) -> Result<()> {
    let key = PublisherKey::parse(&read_text(&args.public_key)?, &args.label)?;
    let password = password::current(&args.password)?;
    let unlocked = Unlocked::open(dir, &password)?;
    let db = open_database(dir, &unlocked)?;
    let added = db.add_trusted_key(&key.key_id(), &key.to_base64(), &args.label)?;
    if added {
        db.log_event(
            AuditEvent::TrustedKeyAdded,
            &format!(
                "key id {} ({}) label {:?}",
                key.key_id(),
                key.fingerprint(),
                args.label
            ),
        )?;
        println!(
            "now trusting key {} ({}) as {:?}",
            key.key_id(),
            key.fingerprint(),
            args.label
        );
    } else {
        println!("key {} was already trusted", key.key_id());
    }
    Ok(())
}
