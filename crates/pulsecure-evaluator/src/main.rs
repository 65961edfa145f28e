//! `pulsecure-evaluator`: the party that computes the risk on ciphertexts. It holds server
//! keys and signed models only.

fn main() -> std::process::ExitCode {
    pulsecure_evaluator::cli::main_with(std::env::args_os())
}
