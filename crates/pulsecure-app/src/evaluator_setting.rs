//! The evaluator a workstation uses when the command line names none: saved in the vault
//! (sealed and authenticated, so nobody without the password can redirect the ciphertexts to
//! another evaluator), changed only with the password, audited.

use std::path::PathBuf;

use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_evaluator_client::{ClientTls, RemoteConfig};
use pulsecure_rpc::EvaluatorAddress;
use pulsecure_vault::Password;

use crate::data_dir::DataDir;
use crate::error::{AppError, Result};
use crate::unlocked::{Unlocked, ENTRY_EVALUATOR};

/// Where the encrypted evaluation runs.
#[derive(Clone, Debug)]
pub enum EvaluatorChoice {
    /// In this process, with the server key from the data directory: an explicit choice for
    /// tests and offline use only (the clinician's process then holds both keys).
    InProcess,
    /// The evaluator service (a Unix socket, or a remote host over mutual TLS).
    Remote(RemoteConfig),
    /// The evaluator saved in the vault (`pulsecure evaluator set`), else this one.
    SavedOr(RemoteConfig),
}

/// The entry's text: the address, then the CA, certificate and key paths (empty lines for a
/// Unix socket), one per line; then, when set, the uid the evaluator must run as (entries
/// saved before that setting existed have four lines, and read back without it).
fn encode(config: &RemoteConfig) -> Result<Vec<u8>> {
    let path = |p: Option<&PathBuf>| -> Result<String> {
        let text = p.map(|p| p.display().to_string()).unwrap_or_default();
        if text.contains('\n') {
            return Err(AppError::EvaluatorRefused {
                endpoint: config.address.to_string(),
                reason: "a TLS file name contains a line break".into(),
            });
        }
        Ok(text)
    };
    let tls = config.tls.as_ref();
    let mut text = format!(
        "{}\n{}\n{}\n{}\n",
        config.address,
        path(tls.map(|t| &t.ca))?,
        path(tls.map(|t| &t.cert))?,
        path(tls.map(|t| &t.key))?
    );
    if let Some(uid) = config.peer_uid {
        text.push_str(&format!("{uid}\n"));
    }
    Ok(text.into_bytes())
}

fn decode(bytes: &[u8]) -> Result<RemoteConfig> {
    let invalid = |why: &str| {
        AppError::Vault(pulsecure_vault::VaultError::InvalidEntry(format!(
            "{ENTRY_EVALUATOR}: {why}"
        )))
    };
    let text = std::str::from_utf8(bytes).map_err(|_| invalid("not UTF-8"))?;
    let lines: Vec<&str> = text.split('\n').collect();
    if lines.len() != 5 && lines.len() != 6 {
        return Err(invalid("not four or five lines"));
    }
    let peer_uid = match lines.get(4) {
        Some(uid) if lines.len() == 6 => Some(
            uid.parse::<u32>()
                .map_err(|_| invalid("the evaluator's uid is not a number"))?,
        ),
        _ => None,
    };
    let address: EvaluatorAddress = lines[0].parse().map_err(|_| invalid("not an address"))?;
    let tls = match (lines[1], lines[2], lines[3]) {
        ("", "", "") => None,
        (ca, cert, key) => Some(ClientTls {
            ca: ca.into(),
            cert: cert.into(),
            key: key.into(),
        }),
    };
    let mut config = RemoteConfig::new(address, tls);
    config.peer_uid = peer_uid;
    Ok(config)
}

/// The saved evaluator, if any.
pub fn saved(dir: &DataDir, password: &Password) -> Result<Option<RemoteConfig>> {
    let unlocked = Unlocked::open(dir, password)?;
    saved_in(&unlocked)
}

pub(crate) fn saved_in(unlocked: &Unlocked) -> Result<Option<RemoteConfig>> {
    unlocked.entry(ENTRY_EVALUATOR).map(decode).transpose()
}

/// Save `config` as the evaluator to use (or, with `None`, forget the saved one); audited.
pub fn save(dir: &DataDir, password: &Password, config: Option<&RemoteConfig>) -> Result<()> {
    let unlocked = Unlocked::open(dir, password)?;
    let value = config.map(encode).transpose()?;
    unlocked.set_entry(ENTRY_EVALUATOR, value)?;
    let db = unlocked.open_database(dir)?;
    let detail = match config {
        Some(c) => format!("evaluator set to {}", c.address),
        None => "saved evaluator cleared".to_string(),
    };
    db.log_event(AuditEvent::EvaluatorConfigured, &detail)?;
    unlocked.record_floor(&db)?;
    tracing::info!("{detail}");
    Ok(())
}

/// The evaluator of `choice` once the vault is open: a saved setting replaces the default.
pub(crate) fn resolve(unlocked: &Unlocked, choice: EvaluatorChoice) -> Result<EvaluatorChoice> {
    match choice {
        EvaluatorChoice::SavedOr(fallback) => Ok(EvaluatorChoice::Remote(
            saved_in(unlocked)?.unwrap_or(fallback),
        )),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_back_as_written() {
        let mut with_uid = RemoteConfig::new(EvaluatorAddress::Unix("/run/p/e.sock".into()), None);
        with_uid.peer_uid = Some(10002);
        for config in [
            with_uid,
            RemoteConfig::new(EvaluatorAddress::Unix("/run/p/e.sock".into()), None),
            RemoteConfig::new(
                EvaluatorAddress::Https("https://e.example:7443".into()),
                Some(ClientTls {
                    ca: "/etc/p/ca.pem".into(),
                    cert: "/etc/p/me.pem".into(),
                    key: "/etc/p/me.key".into(),
                }),
            ),
        ] {
            let back = decode(&encode(&config).expect("encode")).expect("decode");
            assert_eq!(back.address, config.address);
            assert_eq!(back.peer_uid, config.peer_uid);
            assert_eq!(
                back.tls.map(|t| (t.ca, t.cert, t.key)),
                config.tls.map(|t| (t.ca, t.cert, t.key))
            );
        }
        assert!(decode(b"http://x\n\n\n\n").is_err());
        assert!(decode(b"unix:/a\n").is_err());
    }
}
