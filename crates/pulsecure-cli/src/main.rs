//! The `pulsecure` binary: parses the command line, prompts, prints and maps errors to exit
//! codes. Use cases live in `pulsecure-app`; this crate only calls them.

mod batch_sink;
mod bench;
mod bench_equation;
mod bench_fhir;
mod bench_parameters;
mod bench_sample;
mod cli;
mod demo;
mod equation_sink;
mod error;
mod evaluator;
mod examples;
mod fhir_output;
mod history;
mod info;
mod init;
mod keys;
mod local_evaluator;
mod logging;
mod model_cmd;
mod password;
mod progress;
mod queue_cmd;
mod rejected_rows;
mod results;
mod rng;
mod screen;
mod screen_equation;
mod screen_fhir;
mod single_input;
mod stats;
mod tui;

use clap::FromArgMatches;
use pulsecure_app::DataDir;

use crate::cli::{
    Command, DbCommand, EvaluatorCommand, JobsCommand, KeysCommand, ModelCommand, StatsCommand,
};
use crate::error::CliError;

fn run(cli: &cli::Cli) -> Result<(), CliError> {
    let dir = || demo::data_dir(cli.data_dir.as_deref()).map(DataDir::new);
    let Some(command) = &cli.command else {
        // No subcommand: the terminal UI when a person is at a terminal, usage otherwise.
        use std::io::IsTerminal;
        if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
            return tui::run(&dir()?, evaluator::choice(&cli.evaluator)?);
        }
        cli::command().print_help()?;
        std::process::exit(2);
    };
    match command {
        Command::Tui => tui::run(&dir()?, evaluator::choice(&cli.evaluator)?),
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Info => info::info(dir()?.root()),
        Command::Init(args) => init::run(&dir()?, args),
        Command::Keys(KeysCommand::Fingerprint) => keys::fingerprint_cmd(&dir()?),
        Command::Keys(KeysCommand::ChangePassword(args)) => keys::change_password(&dir()?, args),
        Command::Keys(KeysCommand::ExportServerKey(args)) => keys::export_server_key(&dir()?, args),
        Command::Keys(KeysCommand::Rotate(args)) => keys::rotate(&dir()?, args),
        Command::Keys(KeysCommand::Register(args)) => {
            evaluator::register_cmd(&dir()?, &cli.evaluator, args)
        }
        Command::Evaluator(EvaluatorCommand::Set(args)) => {
            evaluator::set_cmd(&dir()?, &cli.evaluator, args)
        }
        Command::Evaluator(EvaluatorCommand::Show(args)) => evaluator::show_cmd(&dir()?, args),
        Command::Evaluator(EvaluatorCommand::Clear(args)) => evaluator::clear_cmd(&dir()?, args),
        Command::Screen(args) => screen::run(&dir()?, args, evaluator::choice(&cli.evaluator)?),
        Command::History(args) => history::history(&dir()?, args),
        Command::Export(args) => history::export(&dir()?, args),
        Command::Db(DbCommand::Check(args)) => history::db_check(&dir()?, args),
        Command::Model(ModelCommand::Keygen(args)) => model_cmd::keygen(args),
        Command::Model(ModelCommand::Sign(args)) => model_cmd::sign(args),
        Command::Model(ModelCommand::Verify(args)) => model_cmd::verify(args),
        Command::Model(ModelCommand::Inspect(args)) => model_cmd::inspect(args),
        Command::Model(ModelCommand::Install(args)) => model_cmd::install(&dir()?, args),
        Command::Model(ModelCommand::TrustKey(args)) => model_cmd::trust_key(&dir()?, args),
        Command::Stats(StatsCommand::Count(args)) => {
            stats::release(&dir()?, args, stats::QueryArg::Count)
        }
        Command::Stats(StatsCommand::MeanRisk(args)) => stats::release(
            &dir()?,
            &args.release,
            stats::QueryArg::MeanRisk(args.lower, args.upper),
        ),
        Command::Stats(StatsCommand::Histogram(args)) => {
            stats::release(&dir()?, args, stats::QueryArg::Histogram)
        }
        Command::Stats(StatsCommand::Budget(args)) => stats::budget(&dir()?, args),
        Command::Stats(StatsCommand::Log(args)) => stats::log(&dir()?, args),
        Command::Jobs(JobsCommand::Status(args)) => queue_cmd::status(&dir()?, args),
        Command::Jobs(JobsCommand::Collect(args)) => queue_cmd::collect(&dir()?, args),
    }
}

fn main() {
    // `pulsecure run-evaluator …`: the evaluator's own command line (the demo's child process
    // when `pulsecure-evaluator` is not installed beside this binary). It never opens a vault.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "run-evaluator") {
        let forwarded = std::iter::once(std::ffi::OsString::from("pulsecure run-evaluator"))
            .chain(args.into_iter().skip(2));
        std::process::exit(i32::from(pulsecure_evaluator::cli::run_main(forwarded)));
    }
    // Die quietly on a closed pipe (`pulsecure history | head`) like every Unix tool,
    // instead of panicking in println!. (Not in the evaluator mode above: a server must
    // survive a client that hangs up.)
    sigpipe::reset();
    let matches = cli::command().get_matches();
    let cli = match cli::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let data_dir = demo::data_dir(cli.data_dir.as_deref()).ok();
    logging::init(data_dir.as_deref());
    let command = cli.command.as_ref().map_or("tui", cli::Command::name);
    tracing::info!(command, version = env!("CARGO_PKG_VERSION"), "start");
    if let Err(err) = run(&cli) {
        let code = err.exit_code();
        let message = error::with_causes(&err);
        tracing::error!(command, exit_code = code, "failed: {message}");
        eprintln!("error: {message}");
        if let Some(hint) = error::hint(&err) {
            eprintln!("hint: {hint}");
        }
        std::process::exit(code);
    }
    tracing::info!(command, "done");
}
