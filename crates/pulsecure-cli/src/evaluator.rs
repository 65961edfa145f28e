//! Choosing the evaluator from `--evaluator` (or PULSECURE_EVALUATOR), and `keys register`.

use std::sync::Arc;

use crate::progress::terminal_bar;
use pulsecure_app::evaluator_service::{register, Registration};
use pulsecure_app::evaluator_setting;
use pulsecure_app::{DataDir, EvaluatorChoice};
use pulsecure_evaluator_client::{ClientTls, RemoteConfig};
use pulsecure_rpc::{default_socket_path, EvaluatorAddress};

use crate::cli::{EvaluatorArgs, EvaluatorSetArgs, RegisterArgs};
use crate::error::CliError;
use crate::password;

/// The word that selects the in-process evaluator.
pub const IN_PROCESS: &str = "in-process";

/// The remote evaluator's configuration from the options (default: the local socket).
pub fn remote_config(args: &EvaluatorArgs) -> Result<RemoteConfig, CliError> {
    config_for(args.evaluator.as_deref(), args)
}

/// `address` (default: the local socket) with the TLS files of `args`.
fn config_for(address: Option<&str>, args: &EvaluatorArgs) -> Result<RemoteConfig, CliError> {
    let address = match address {
        None => EvaluatorAddress::Unix(default_socket_path()),
        Some(text) => text
            .parse()
            .map_err(|e: pulsecure_rpc::AddressError| CliError::Usage(e.to_string()))?,
    };
    if matches!(address, EvaluatorAddress::Https(_)) && args.evaluator_uid.is_some() {
        return Err(CliError::Usage(
            "--evaluator-uid applies to unix: evaluators only (https:// ones are checked by their certificate)"
                .into(),
        ));
    }
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
    let mut config = RemoteConfig::new(address, tls);
    config.peer_uid = args.evaluator_uid;
    Ok(config)
}

/// Where screenings are evaluated: --evaluator (or PULSECURE_EVALUATOR), else the evaluator
/// saved in the vault, else the local socket.
pub fn choice(args: &EvaluatorArgs) -> Result<EvaluatorChoice, CliError> {
    match args.evaluator.as_deref() {
        Some(IN_PROCESS) => Ok(EvaluatorChoice::InProcess),
        Some(_) => remote_config(args).map(EvaluatorChoice::Remote),
        None => remote_config(args).map(EvaluatorChoice::SavedOr),
    }
}

/// `evaluator set ADDRESS`: save it (TLS file names made absolute) in the vault.
pub fn set_cmd(
    dir: &DataDir,
    evaluator: &EvaluatorArgs,
    args: &EvaluatorSetArgs,
) -> Result<(), CliError> {
    dir.require_initialized()?;
    if args.address == IN_PROCESS {
        return Err(CliError::Usage(
            "the in-process evaluator is a per-command choice (--evaluator in-process), not a setting".into(),
        ));
    }
    let mut config = config_for(Some(&args.address), evaluator)?;
    if let Some(tls) = config.tls.as_mut() {
        for path in [&mut tls.ca, &mut tls.cert, &mut tls.key] {
            *path = std::fs::canonicalize(&*path)
                .map_err(|e| CliError::io(format!("reading {}", path.display()), e))?;
        }
    }
    let password = password::current(&args.password)?;
    evaluator_setting::save(dir, &password, Some(&config))?;
    println!("Evaluator saved: {}", config.address);
    Ok(())
}

/// `evaluator show`.
pub fn show_cmd(dir: &DataDir, args: &RegisterArgs) -> Result<(), CliError> {
    dir.require_initialized()?;
    let password = password::current(&args.password)?;
    match evaluator_setting::saved(dir, &password)? {
        Some(config) => {
            println!("{} (saved)", config.address);
            if let Some(uid) = config.peer_uid {
                println!("  served by uid {uid}");
            }
            if let Some(tls) = config.tls {
                println!("  CA          {}", tls.ca.display());
                println!("  certificate {}", tls.cert.display());
                println!("  key         {}", tls.key.display());
            }
        }
        None => println!(
            "unix:{} (default; none saved)",
            default_socket_path().display()
        ),
    }
    Ok(())
}

/// `evaluator clear`.
pub fn clear_cmd(dir: &DataDir, args: &RegisterArgs) -> Result<(), CliError> {
    dir.require_initialized()?;
    let password = password::current(&args.password)?;
    evaluator_setting::save(dir, &password, None)?;
    println!("Saved evaluator cleared: the default socket is used.");
    Ok(())
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
    let choice = choice(evaluator)?;
    let password = password::current(&args.password)?;
    let bar = terminal_bar("uploading the server key {bar:30} {bytes}/{total_bytes}");
    let progress_bar = bar.clone();
    let (outcome, key_set, endpoint) = register(
        dir,
        &password,
        choice,
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
