//! Command-line definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Pulsecure: cardiovascular-disease risk screening under fully homomorphic encryption.
///
/// A screening aid tuned for high recall, NOT a diagnosis. The evaluator computes the
/// calibrated risk on TFHE ciphertexts and never sees patient values.
#[derive(Debug, Parser)]
#[command(name = "pulsecure", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Directory for the vault, database and configuration.
    #[arg(long, global = true, env = "PULSECURE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 ok, 2 usage error, 3 invalid input, 4 cryptographic or integrity failure, 5 privacy budget refused (reserved for `stats`), 1 other failure.";

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Screen the bundled example patients end to end under encryption, with ephemeral keys
    /// and the embedded model, and print the timing of each stage.
    Demo(DemoArgs),
    /// Measure key generation, encryption, evaluation, decryption, sizes and throughput.
    Bench(BenchArgs),
    /// Show the embedded model, the TFHE parameters and the data directory.
    Info,
}

/// Options of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Options of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Single-patient runs per measurement (min and median are reported).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub runs: u32,
    /// Key generations measured.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub keygen_runs: u32,
    /// Patients in the throughput batch.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=100000))]
    pub batch: u32,
    /// Random valid inputs checked against the reference engine (beyond the timed runs).
    #[arg(long, default_value_t = 0)]
    pub exact: u32,
    /// Seed of the random inputs.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}
