//! `pulsecure init`: asks for the new password, has the workstation create the key set,
//! the vault and the database, and prints what was made.

use pulsecure_app::keys::{check_init, init};
use pulsecure_app::DataDir;
use pulsecure_vault::KdfParams;

use crate::cli::InitArgs;
use crate::error::CliError;
use crate::password;

/// Run `init`.
pub fn run(dir: &DataDir, args: &InitArgs) -> Result<(), CliError> {
    let kdf = KdfParams {
        memory_kib: args.kdf_memory_mib * 1024,
        iterations: args.kdf_iterations,
        parallelism: 1,
    };
    // Refuse what can be refused before asking for a new password.
    check_init(dir, kdf, args.dp_budget)?;
    let password = password::new_from_args(&args.password)?;
    eprintln!("Generating TFHE keys (a few seconds)...");
    let report = init(dir, &password, kdf, args.dp_budget)?;
    println!("Initialized {}", dir.root().display());
    println!("  vault      {} (Argon2id {kdf})", dir.vault().display());
    println!("  server key {}", dir.server_key().display());
    println!("  database   {}", dir.database().display());
    println!("  key set    {}", report.key_set);
    println!("  model      {} (signature verified)", report.model);
    println!(
        "  keys generated in {:.1} s; vault sealed in {:.2} s",
        report.keygen.as_secs_f64(),
        report.sealing.as_secs_f64()
    );
    println!(
        "Keep the password safe: without it the keys and stored screenings cannot be recovered."
    );
    Ok(())
}
