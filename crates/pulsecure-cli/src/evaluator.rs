//! Choosing the evaluator from `--evaluator` (or PULSECURE_EVALUATOR), and `keys register`.

use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use pulsecure_app::evaluator_service::{register, Registration};
use pulsecure_app::{DataDir, EvaluatorChoice};
use pulsecure_remote::{ClientTls, RemoteConfig};
use pulsecure_rpc::{default_socket_path, EvaluatorAddress};

use crate::cli::{EvaluatorArgs, RegisterArgs};
use crate::error::CliError;
use crate::password;

/// The word that selects the in-process evaluator.
pub const IN_PROCESS: &str = "in-process";

/// The remote evaluator's configuration from the options (default: the local socket).
pub fn remote_config(args: &EvaluatorArgs) -> Result<RemoteConfig, CliError> {
    let address = match args.evaluator.as_deref() {
        None => EvaluatorAddress::Unix(default_socket_path()),
        Some(text) => text
            .parse()
            .map_err(|e: pulsecure_rpc::AddressError| CliError::Usage(e.to_string()))?,
    };
    let tls = match (&address, &args.evaluator_ca, &args.client_cert, &args.client_key) {
        (EvaluatorAddress::Https(_), Some(ca), Some(cert), Some(key)) => Some(ClientTls {
            ca: ca.clone(),
            cert: cert.clone(),
            key: key.clone(),
        }),
        (EvaluatorAddress::Https(_), ..) => {
            return Err(CliError::Usage(
                "an https:// evaluator needs --evaluator-ca, --client-cert and --client-key (mutual TLS)"
                    .into(),
            ))
        }
        (EvaluatorAddress::Unix(_), None, None, None) => None,
        (EvaluatorAddress::Unix(_), ..) => {
            return Err(CliError::Usage(
                "--evaluator-ca, --client-cert and --client-key apply to https:// evaluators only"
                    .into(),
            ))
        }
    };
    Ok(RemoteConfig::new(address, tls))
}

/// Where screenings are evaluated.
pub fn choice(args: &EvaluatorArgs) -> Result<EvaluatorChoice, CliError> {
    if args.evaluator.as_deref() == Some(IN_PROCESS) {
        return Ok(EvaluatorChoice::InProcess);
    }
    remote_config(args).map(EvaluatorChoice::Remote)
}

/// `keys register`: upload the server key once, with a progress bar on a terminal.
pub fn register_cmd(
    dir: &DataDir,
    evaluator: &EvaluatorArgs,
    args: &RegisterArgs,
) -> Result<(), CliError> {
    dir.require_initialized()?;
    if evaluator.evaluator.as_deref() == Some(IN_PROCESS) {
        return Err(CliError::Usage(
            "the in-process evaluator needs no registration: give the service's --evaluator".into(),
        ));
    }
    let config = remote_config(evaluator)?;
    let endpoint = config.address.to_string();
    let password = password::current(&args.password)?;
    let bar = ProgressBar::hidden();
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }
    bar.set_style(
        ProgressStyle::with_template("uploading the server key {bar:30} {bytes}/{total_bytes}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress_bar = bar.clone();
    let (outcome, key_set) = register(
        dir,
        &password,
        config,
        Arc::new(move |sent, total| {
            progress_bar.set_length(total);
            progress_bar.set_position(sent);
        }),
    )?;
    bar.finish_and_clear();
    match outcome {
        Registration::AlreadyHeld => {
            println!("The evaluator at {endpoint} already holds key set {key_set}: nothing sent.")
        }
        Registration::Uploaded(bytes) => println!(
            "Server key of key set {key_set} registered with the evaluator at {endpoint} ({bytes} bytes)."
        ),
    }
    Ok(())
}
