//! The `pulsecure` binary: parses the command line and wires the core to its adapters.
//! Domain logic lives in the library crates; this crate only composes them.

mod bench;
mod cli;
mod demo;
mod embedded;
mod examples;
mod exit;
mod rng;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let result = match &cli.command {
        cli::Command::Demo(args) => demo::run(args),
        cli::Command::Bench(args) => bench::run(args),
        cli::Command::Info => embedded::info(&cli),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(exit::code_for(&err));
    }
}
