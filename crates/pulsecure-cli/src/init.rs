//! `pulsecure init`: generate the key set, seal it in a new vault, create the database.

use std::time::Instant;

use anyhow::{bail, Result};
use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_fhe::{client_key_to_bytes, generate_keys};
use pulsecure_store::{Database, FieldKey};
use pulsecure_vault::{fingerprint, write_atomic, DataKey, KdfParams, SecretEntries};

use crate::cli::InitArgs;
use crate::password;
use crate::session::{
    create_dir_private, DataDir, ENTRY_CLIENT_KEY, ENTRY_DATABASE_KEY, ENTRY_SERVER_KEY_SHA256,
};
use pulsecure_signing::verify::sha256_hex;

/// Run `init`.
pub fn run(dir: &DataDir, args: &InitArgs) -> Result<()> {
    if dir.vault().exists() {
        bail!(
            "{} already holds a vault; refusing to overwrite it (keys cannot be recovered)",
            dir.root.display()
        );
    }
    let kdf = KdfParams {
        memory_kib: args.kdf_memory_mib * 1024,
        iterations: args.kdf_iterations,
        parallelism: 1,
    };
    kdf.check()?;
    if !args.dp_budget.is_finite() || args.dp_budget <= 0.0 {
        return Err(pulsecure_core::ports::privacy::PrivacyError::InvalidBudget.into());
    }
    let password = password::new_from_args(&args.password)?;
    create_dir_private(&dir.root)?;

    eprintln!("Generating TFHE keys (a few seconds)...");
    let t = Instant::now();
    let keys = generate_keys()?;
    let keygen = t.elapsed();
    let database_key = DataKey::generate()?;

    let mut entries = SecretEntries::new();
    entries.insert(
        ENTRY_CLIENT_KEY,
        client_key_to_bytes(&keys.client_key)?.to_vec(),
    )?;
    entries.insert(ENTRY_DATABASE_KEY, database_key.expose().to_vec())?;
    entries.insert(
        ENTRY_SERVER_KEY_SHA256,
        sha256_hex(&keys.server_key_bytes).into_bytes(),
    )?;

    // The public key first: if anything later fails, no vault refers to it yet.
    write_atomic(&dir.server_key(), &keys.server_key_bytes)?;
    let t = Instant::now();
    pulsecure_vault::create(&dir.vault(), &password, kdf, &entries)?;
    let sealing = t.elapsed();
    create_private_file(&dir.database())?;
    let db = Database::open(
        &dir.database(),
        FieldKey::from_bytes(*database_key.expose()),
    )?;
    db.log_event(
        AuditEvent::VaultCreated,
        &format!("key set {}", fingerprint(&keys.server_key_bytes)),
    )?;
    db.set_privacy_budget(args.dp_budget)?;
    // Record the embedded release as the anti-rollback baseline.
    let model = crate::model_cmd::active_model(dir, &db)?;

    println!("Initialized {}", dir.root.display());
    println!("  vault      {} (Argon2id {kdf})", dir.vault().display());
    println!("  server key {}", dir.server_key().display());
    println!("  database   {}", dir.database().display());
    println!("  key set    {}", fingerprint(&keys.server_key_bytes));
    println!(
        "  model      {} v{} (signature verified)",
        model.id(),
        model.version()
    );
    println!(
        "  keys generated in {:.1} s; vault sealed in {:.2} s",
        keygen.as_secs_f64(),
        sealing.as_secs_f64()
    );
    println!(
        "Keep the password safe: without it the keys and stored screenings cannot be recovered."
    );
    Ok(())
}

/// Create an empty file with mode 0600 (SQLite then keeps that mode for the database and
/// its -wal/-shm files). An existing file is left as it is.
fn create_private_file(path: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("creating {}", path.display()))),
    }
}
