//! Command-line definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Pulsecure: cardiovascular-disease risk screening under fully homomorphic encryption.
///
/// A screening aid tuned for high recall, NOT a diagnosis. The evaluator computes the
/// calibrated risk on TFHE ciphertexts and never sees patient values.
#[derive(Debug, Parser)]
#[command(name = "pulsecure", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Directory for the vault, database and configuration.
    #[arg(long, global = true, env = "PULSECURE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Where encrypted evaluations run.
    #[command(flatten)]
    pub evaluator: EvaluatorArgs,

    /// What to do (none: the terminal UI, when run at a terminal).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Where encrypted evaluations run (screen, tui, keys register).
#[derive(Debug, Args)]
pub struct EvaluatorArgs {
    /// `unix:PATH` (default: $XDG_RUNTIME_DIR/pulsecure/evaluator.sock, where
    /// `pulsecure-evaluator serve` listens by default), `https://HOST:PORT` (mutual TLS), or
    /// `in-process` (tests and offline use only: this process then holds the server key too).
    #[arg(
        long,
        global = true,
        env = "PULSECURE_EVALUATOR",
        value_name = "ADDRESS"
    )]
    pub evaluator: Option<String>,
    /// PEM certificate of the CA that signed the evaluator's certificate (https:// only).
    #[arg(
        long,
        global = true,
        env = "PULSECURE_EVALUATOR_CA",
        value_name = "FILE"
    )]
    pub evaluator_ca: Option<PathBuf>,
    /// PEM client certificate presented to the evaluator (https:// only).
    #[arg(
        long,
        global = true,
        env = "PULSECURE_CLIENT_CERT",
        value_name = "FILE"
    )]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of the client certificate (https:// only).
    #[arg(long, global = true, env = "PULSECURE_CLIENT_KEY", value_name = "FILE")]
    pub client_key: Option<PathBuf>,
    /// The uid the evaluator's process must run as (unix: only; checked with SO_PEERCRED
    /// before anything is sent). Default: this user or root, with the socket and its
    /// directory theirs and writable by no one else.
    #[arg(
        long,
        global = true,
        env = "PULSECURE_EVALUATOR_UID",
        value_name = "UID"
    )]
    pub evaluator_uid: Option<u32>,
}

const AFTER_HELP: &str = concat!(
    "Logs: <data-dir>/pulsecure.log (mode 0600; no patient data at any level). ",
    "PULSECURE_LOG sets the level (default info), PULSECURE_LOG_FILE another file or - for stderr.\n\n",
    "Exit codes: 0 ok, 2 usage error, 3 invalid input (for a batch: some rows failed, the others were screened), 4 cryptographic or integrity failure (wrong password, altered vault, database or model), 5 privacy budget refused, 6 storage failure (database locked, read-only or full disk), 7 evaluator unreachable or timed out, 1 other failure."
);

/// The command-line definition; the `screen` help text, which lists the model's input
/// columns, is built only when help is asked for.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let command = Cli::command();
    let wants_help = std::env::args_os()
        .skip(1)
        .any(|a| a == "--help" || a == "-h" || a == "help");
    if wants_help {
        command.mut_subcommand("screen", |c| c.after_help(crate::info::screen_help()))
    } else {
        command
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Interactive terminal UI: unlock, enter a patient, watch the encrypted evaluation,
    /// read the result; history, DP statistics, keys. The default on a terminal.
    Tui,
    /// Screen the bundled example patients end to end under encryption, with ephemeral keys
    /// and the embedded model, and print the timing of each stage.
    Demo(DemoArgs),
    /// Measure key generation, encryption, evaluation, decryption, sizes and throughput.
    Bench(BenchArgs),
    /// Show the embedded model, the TFHE parameters and the data directory.
    Info,
    /// Create the key vault (TFHE keys + database key under your password) and the database.
    Init(InitArgs),
    /// Key fingerprints, password change, server-key export, registration with the evaluator.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The evaluator to use when --evaluator is not given: saved in the vault.
    #[command(subcommand)]
    Evaluator(EvaluatorCommand),
    /// Screen one patient (values as flags or JSON) or a batch file, under encryption.
    Screen(ScreenArgs),
    /// List stored screenings (filter by date or risk class) or show one.
    History(HistoryArgs),
    /// Export decrypted screenings (CSV or JSON) for the data owner.
    Export(ExportArgs),
    /// Database maintenance.
    #[command(subcommand)]
    Db(DbCommand),
    /// Signed models: publisher keys and signatures, verification, installation.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Differentially private statistics over stored screenings (spends privacy budget).
    #[command(subcommand)]
    Stats(StatsCommand),
    /// Screenings submitted to a PostgreSQL job queue (`screen --batch FILE --queue URL`).
    #[command(subcommand)]
    Jobs(JobsCommand),
}

/// `jobs` subcommands.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// How many of this workstation's jobs wait, run, are done or failed in the queue.
    Status(JobsArgs),
    /// Decrypt and store finished jobs, report failed ones, remove both from the queue.
    Collect(CollectArgs),
}

/// Options of `jobs status`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// The queue, as given to `screen --queue`.
    #[arg(long, value_name = "URL")]
    pub queue: String,
    /// Password source.
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Options of `jobs collect`.
#[derive(Debug, Args)]
pub struct CollectArgs {
    /// The queue, as given to `screen --queue`.
    #[arg(long, value_name = "URL")]
    pub queue: String,
    /// The models whose jobs to collect: `cvd-lr` (the default), a published equation
    /// (`prevent-cvd-10y`, `prevent-ascvd-10y`, `pce-ascvd-10y`) or `prevent` (both PREVENT
    /// outputs), as given to `screen --model … --queue`. Jobs of other models stay queued.
    #[arg(long, value_name = "ID")]
    pub model: Option<String>,
    /// Wait until every job of the selected models has finished.
    #[arg(long)]
    pub wait: bool,
    /// Write the results to this file (CSV or JSON by --format or the extension).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write failed jobs (row, patient_id, reason) to this CSV file.
    #[arg(long, value_name = "FILE")]
    pub errors: Option<PathBuf>,
    /// Output format (default: table on stdout, or the --out file's extension).
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Password source.
    #[command(flatten)]
    pub password: PasswordArgs,
}

impl Command {
    /// The subcommand's name, for logs (never its arguments: they may hold patient values).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Tui => "tui",
            Command::Demo(_) => "demo",
            Command::Bench(_) => "bench",
            Command::Info => "info",
            Command::Init(_) => "init",
            Command::Keys(_) => "keys",
            Command::Evaluator(_) => "evaluator",
            Command::Screen(_) => "screen",
            Command::History(_) => "history",
            Command::Export(_) => "export",
            Command::Db(_) => "db",
            Command::Model(_) => "model",
            Command::Stats(_) => "stats",
            Command::Jobs(_) => "jobs",
        }
    }
}

/// `stats` subcommands.
#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// Noisy number of high-risk screenings (sensitivity 1).
    Count(StatsReleaseArgs),
    /// Noisy mean calibrated risk (clamped sum and count, ε split in halves).
    MeanRisk(StatsMeanArgs),
    /// Noisy counts per risk class × age band (sensitivity 1 in L1).
    Histogram(StatsReleaseArgs),
    /// Total, spent and remaining ε.
    Budget(StatsBudgetArgs),
    /// Every release: when, which query, ε, result.
    Log(StatsBudgetArgs),
}

/// Options shared by releases.
#[derive(Debug, Args)]
pub struct StatsReleaseArgs {
    /// Privacy loss to spend on this release.
    #[arg(long, allow_negative_numbers = true)]
    pub epsilon: f64,
    /// Cover the screenings made before 00:00 UTC of this date (YYYY-MM-DD) or before this
    /// Unix time (@SECONDS, as a release prints it); not in the future. Default: every
    /// screening made before now. The same query at the same ε over the same window returns
    /// its recorded answer at no cost.
    #[arg(long, value_name = "DATE|@SECONDS")]
    pub before: Option<String>,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
    /// Vault password source.
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Options of `stats mean-risk`.
#[derive(Debug, Args)]
pub struct StatsMeanArgs {
    /// Common release options.
    #[command(flatten)]
    pub release: StatsReleaseArgs,
    /// Clamp lower bound, in probability codes (1/4096).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub lower: i64,
    /// Clamp upper bound, in probability codes (1/4096).
    #[arg(long, default_value_t = 4096, allow_negative_numbers = true)]
    pub upper: i64,
}

/// Options of `stats budget` and `stats log`.
#[derive(Debug, Args)]
pub struct StatsBudgetArgs {
    /// JSON output.
    #[arg(long)]
    pub json: bool,
    /// Vault password source.
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// `model` subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// (Publisher) Create a key pair: a public key to distribute and a password-protected
    /// secret key to keep offline.
    Keygen(ModelKeygenArgs),
    /// (Publisher) Sign a model.json; writes model.json.minisig (minisign format).
    Sign(ModelSignArgs),
    /// Check a model's signature against the release key (or --public-key).
    Verify(ModelVerifyArgs),
    /// Show a model's id, version, features, metrics, signer and fingerprint.
    Inspect(ModelFileArgs),
    /// Verify, check against rollback, record and activate a model release.
    Install(ModelInstallArgs),
    /// Trust another publisher key (logged in the audit log).
    TrustKey(TrustKeyArgs),
}

/// A model file and its signature.
#[derive(Debug, Args)]
pub struct ModelFileArgs {
    /// The model.json.
    pub model: PathBuf,
    /// Its signature (default: the model path + `.minisig`).
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,
}

/// Options of `model keygen`.
#[derive(Debug, Args)]
pub struct ModelKeygenArgs {
    /// Where to write the public key.
    #[arg(long, value_name = "FILE")]
    pub public_key: PathBuf,
    /// Where to write the encrypted secret key (mode 0600; never commit it).
    #[arg(long, value_name = "FILE")]
    pub secret_key: PathBuf,
    /// Password source for the new secret key.
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Options of `model sign`.
#[derive(Debug, Args)]
pub struct ModelSignArgs {
    /// The model.json to sign.
    pub model: PathBuf,
    /// The publisher's secret key.
    #[arg(long, value_name = "FILE")]
    pub secret_key: PathBuf,
    /// Signature destination (default: the model path + `.minisig`).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Password source for the secret key.
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Options of `model verify`.
#[derive(Debug, Args)]
pub struct ModelVerifyArgs {
    /// Model and signature.
    #[command(flatten)]
    pub file: ModelFileArgs,
    /// Verify with this minisign public key instead of the compiled-in release key.
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,
}

/// Options of `model install`.
#[derive(Debug, Args)]
pub struct ModelInstallArgs {
    /// Model and signature.
    #[command(flatten)]
    pub file: ModelFileArgs,
    /// Vault password source.
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Options of `model trust-key`.
#[derive(Debug, Args)]
pub struct TrustKeyArgs {
    /// A minisign public key file.
    pub public_key: PathBuf,
    /// Who this key belongs to (recorded with it).
    #[arg(long)]
    pub label: String,
    /// The model id this key may publish (trust is per model id; repeat the command for
    /// another id).
    #[arg(long, value_name = "ID", default_value = pulsecure_core::embedded_model::DEFAULT_MODEL_ID)]
    pub model_id: String,
    /// Vault password source.
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Where the vault password comes from. Without an option, it is asked on the terminal
/// (no echo).
#[derive(Debug, Args, Clone, Default)]
pub struct PasswordArgs {
    /// Read the password from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Read the password from the first line of this open file descriptor.
    #[arg(long, value_name = "FD")]
    pub password_fd: Option<u32>,
    /// Read the password from PULSECURE_PASSWORD (and a new one from
    /// PULSECURE_NEW_PASSWORD). Environment variables leak to other processes: tests only.
    #[arg(long)]
    pub insecure_env_password: bool,
}

/// Options of `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Argon2id memory in MiB (at least 19; default 128).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(19..=1024))]
    pub kdf_memory_mib: u32,
    /// Argon2id passes (2 to 10; default 3).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(2..=10))]
    pub kdf_iterations: u32,
    /// Lifetime differential-privacy budget (total ε over all releases; never resets).
    #[arg(long, default_value_t = 1.0)]
    pub dp_budget: f64,
    /// Password source.
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// `evaluator` subcommands.
#[derive(Debug, Subcommand)]
pub enum EvaluatorCommand {
    /// Save the evaluator to use (`unix:PATH` or `https://HOST:PORT`; for https, give
    /// --evaluator-ca, --client-cert and --client-key too). Sealed in the vault; audited.
    Set(EvaluatorSetArgs),
    /// Show the saved evaluator (or the default socket when none is saved).
    Show(RegisterArgs),
    /// Forget the saved evaluator (the default socket is used again). Audited.
    Clear(RegisterArgs),
}

/// Options of `evaluator set`.
#[derive(Debug, Args)]
pub struct EvaluatorSetArgs {
    /// `unix:PATH` or `https://HOST:PORT`.
    #[arg(value_name = "ADDRESS")]
    pub address: String,
    /// Vault password source.
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Show the key set's fingerprint (SHA-256 of the public server key, truncated), to
    /// compare with the evaluator's.
    Fingerprint,
    /// Change the vault password (re-wraps the data key only; the old password is needed).
    /// An old copy of the vault still opens with the old password: run `keys rotate` too
    /// when the old password may be known to someone.
    ChangePassword(ChangePasswordArgs),
    /// Replace the vault's data key and the database key and re-seal every stored row, so
    /// an old copy of the vault (with its old password) no longer reads the database.
    Rotate(RotateArgs),
    /// Write the compressed server key for an evaluator (public: it cannot decrypt).
    ExportServerKey(ExportServerKeyArgs),
    /// Upload the server key to the evaluator service (--evaluator), unless it already
    /// holds it. Needed once per key set and evaluator.
    Register(RegisterArgs),
}

/// Options of `keys register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// Vault password source.
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Options of `keys change-password`.
#[derive(Debug, Args)]
pub struct ChangePasswordArgs {
    /// Current password source.
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Read the new password from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub new_password_file: Option<PathBuf>,
    /// Read the new password from the first line of this open file descriptor.
    #[arg(long, value_name = "FD")]
    pub new_password_fd: Option<u32>,
}

/// Options of `keys rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Password source.
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Options of `keys export-server-key`.
#[derive(Debug, Args)]
pub struct ExportServerKeyArgs {
    /// Destination file.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Password source (the export is checked against the key recorded in the vault).
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Output formats of screening results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for people.
    Table,
    /// JSON (one array; stable field names).
    Json,
    /// CSV with a header (stable column names).
    Csv,
    /// FHIR R4 RiskAssessment resources (with --fhir or --fhir-bulk input): a Bundle, or
    /// one resource per line for a bulk export.
    Fhir,
}

/// Options of `screen`.
#[derive(Debug, Args)]
pub struct ScreenArgs {
    /// One feature value, as NAME=VALUE (repeat for each feature). Unsafe on shared
    /// machines: arguments are readable by every local user and kept in shell history.
    #[arg(short = 'v', long = "value", value_name = "NAME=VALUE", conflicts_with_all = ["json", "batch"])]
    pub values: Vec<String>,
    /// One patient as a JSON object: `-` reads it from stdin, @FILE from a file (both keep
    /// the values off the command line). Read as a row of a JSON batch is: "patient_id" (or
    /// its alias "patient_ref", not both; a string or an integer; generated if absent), one
    /// key per field (numbers, true/false for yes/no fields, strings for an equation's
    /// levels, null for absent); a key the model does not read is reported by its position
    /// (#N), never its text. Inline JSON is as unsafe on shared machines as --value.
    #[arg(long, value_name = "-|@FILE|JSON", conflicts_with = "batch")]
    pub json: Option<String>,
    /// Pseudonymous patient reference for a single screening (generated if absent).
    /// Visible to other local users like --value; prefer "patient_id" in --json input.
    #[arg(long, value_name = "REF", conflicts_with = "batch")]
    pub patient_ref: Option<String>,
    /// Screen every row of a CSV or JSON file (resumable: stored patients are skipped). JSON:
    /// an array of objects or one object per line, each read as --json reads one patient,
    /// with its patient_id (or patient_ref) required.
    #[arg(long, value_name = "FILE", group = "file_input")]
    pub batch: Option<PathBuf>,
    /// Screen the patients of a FHIR R4 file: a Bundle (collection, searchset or
    /// transaction) or one resource per line (Patient, Observation, Condition,
    /// MedicationRequest, MedicationStatement), mapped as docs/fhir.md says.
    #[arg(long, value_name = "FILE", groups = ["file_input", "fhir_input"], conflicts_with_all = ["json", "values", "patient_ref", "batch", "fhir_bulk"])]
    pub fhir: Option<PathBuf>,
    /// Screen the patients of a FHIR Bulk Data export directory (Patient.ndjson,
    /// Observation.ndjson, ..., possibly split in numbered files), with bounded memory.
    #[arg(long, value_name = "DIR", groups = ["file_input", "fhir_input"], conflicts_with_all = ["json", "values", "patient_ref", "batch"])]
    pub fhir_bulk: Option<PathBuf>,
    /// FHIR input: the screening date ages are taken on and observations are looked back
    /// from (YYYY-MM-DD, not after today in UTC; default: today, UTC).
    #[arg(long, value_name = "DATE", requires = "fhir_input")]
    pub as_of: Option<String>,
    /// FHIR input: how many years back an observation still counts (default 2).
    #[arg(long, value_name = "YEARS", value_parser = clap::value_parser!(u32).range(1..=20), requires = "fhir_input")]
    pub lookback: Option<u32>,
    /// Write the results to this file (CSV, JSON or FHIR by --format or the extension).
    #[arg(long, value_name = "FILE", requires = "file_input")]
    pub out: Option<PathBuf>,
    /// Write rejected rows (row, patient_id, column, reason) to this CSV file.
    #[arg(long, value_name = "FILE", requires = "file_input")]
    pub errors: Option<PathBuf>,
    /// Output format (default: table on stdout, or the --out file's extension).
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Submit the batch to a PostgreSQL job queue served by `pulsecure-evaluator worker`s
    /// instead of an evaluator service: postgresql://USER@/DB?host=/run/postgresql, or
    /// postgresql://USER@HOST/DB?sslmode=verify-full&sslrootcert=CA.pem (a password comes
    /// from PGPASSWORD, never the URL). Only ciphertexts under random job ids leave.
    #[arg(long, value_name = "URL", requires = "file_input")]
    pub queue: Option<String>,
    /// The model to screen with: `cvd-lr` (the default), a published equation
    /// (`prevent-cvd-10y`, `prevent-ascvd-10y`, `pce-ascvd-10y`) or `prevent` for both
    /// PREVENT outputs. An equation reads the columns patient_id, age, sex (female|male), sbp,
    /// bp_tx (0|1), total_c, hdl_c, statin (0|1), dm (0|1), smoking (0|1), egfr (or
    /// serum_creatinine, mg/dL), race (black|white|other; the PCE only, `other` on the white
    /// equations) and known_cvd (0|1); a column the model does not read is ignored (the PCE:
    /// statin, egfr; PREVENT: race). Ages: PREVENT 30-79, the PCE 40-79. Output fields patient_id, status (screened,
    /// already-stored, not_eligible), probability (0-1), risk_text, risk_category, reason,
    /// model_id, model_version.
    #[arg(long, value_name = "ID")]
    pub model: Option<String>,
    /// Cholesterol units of an equation's input: mg (mg/dL, default) or si (mmol/L).
    #[arg(long, value_enum, default_value = "mg")]
    pub units: CholesterolUnitsArg,
    /// With --queue: enqueue and exit; `pulsecure jobs collect` finishes later.
    #[arg(long, requires = "queue")]
    pub detach: bool,
    /// Password source.
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Options of `history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only screenings on or after this date (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only screenings before the end of this date (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Only this risk class.
    #[arg(long, value_enum)]
    pub class: Option<ClassFilter>,
    /// Show one screening in full, by id.
    #[arg(long, value_name = "ID")]
    pub show: Option<i64>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// Password source.
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Risk-class filter values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClassFilter {
    /// Low risk.
    Low,
    /// High risk.
    High,
}

/// Options of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// csv or json.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: OutputFormat,
    /// Destination file (written atomically, mode 0600); stdout if absent.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Password source.
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// `db` subcommands.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Run SQLite's integrity check and decrypt every stored screening.
    Check(DbCheckArgs),
}

/// Options of `db check`.
#[derive(Debug, Args)]
pub struct DbCheckArgs {
    /// Password source.
    #[command(flatten)]
    pub password: PasswordArgs,
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
    /// Also compare tfhe parameter sets on the same circuit (the classic KS-PBS set of
    /// earlier keys against today's KS32 set), timed alternately in this run.
    #[arg(long)]
    pub compare_parameters: bool,
    /// Benchmark this published-equation model (`prevent-cvd-10y`, `prevent-ascvd-10y`,
    /// `pce-ascvd-10y`)
    /// instead of the embedded cvd-lr: `--runs` random valid patients (at least `--exact`),
    /// each checked against the reference engine.
    #[arg(long, value_name = "ID")]
    pub model: Option<String>,
    /// Benchmark the FHIR reader instead: read this Bulk Data export directory (e.g. one made
    /// by scripts/fhir_bulk_synth.py) and report resources/s and peak memory.
    #[arg(long, value_name = "DIR", conflicts_with = "model")]
    pub fhir_bulk: Option<PathBuf>,
}

/// Units of cholesterol for a published equation's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CholesterolUnitsArg {
    /// mg/dL, as the equations are published.
    Mg,
    /// mmol/L (converted with × 38.67).
    Si,
}
