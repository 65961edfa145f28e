//! Reaching the evaluator service from a workstation: connecting, checking that it serves
//! the active model and holds this key set, and registering the server key with it.

use std::sync::Arc;

use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::Model;
use pulsecure_evaluator_client::{Connection, RemoteConfig, RemoteError, RemoteEvaluator};
use pulsecure_fhe::{model_fingerprint, ServerKeyId};
use pulsecure_vault::{fingerprint, Password};

use crate::data_dir::DataDir;
use crate::error::{AppError, Result};
use crate::evaluator_setting::{resolve, EvaluatorChoice};
use crate::unlocked::Unlocked;

/// The application error of a failed evaluator call.
pub fn remote_error(e: RemoteError, endpoint: &str) -> AppError {
    match e {
        RemoteError::Unreachable { .. } | RemoteError::Runtime(_) => {
            AppError::EvaluatorUnreachable {
                endpoint: endpoint.to_string(),
            }
        }
        RemoteError::Untrusted { .. } => AppError::EvaluatorUntrusted {
            endpoint: endpoint.to_string(),
            reason: e.to_string(),
        },
        other => AppError::EvaluatorRefused {
            endpoint: endpoint.to_string(),
            reason: other.to_string(),
        },
    }
}

/// Connect to the evaluator of `config`.
pub fn connect(config: RemoteConfig) -> Result<Connection> {
    let endpoint = config.address.to_string();
    Connection::connect(config).map_err(|e| {
        tracing::warn!(endpoint = endpoint.as_str(), "evaluator not reachable: {e}");
        remote_error(e, &endpoint)
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An evaluator for `model` under key set `key_id`: the service must serve the model and
/// hold the key. Returns it with the number of requests a batch should keep in flight
/// (twice the evaluator's workers, within its queue). One status call: the connection's.
pub fn remote_evaluator(
    config: RemoteConfig,
    model: &Model,
    key_id: ServerKeyId,
) -> Result<RemoteEvaluator> {
    let endpoint = config.address.to_string();
    let connection = connect(config)?;
    let status = connection.first_status().clone();
    let wanted = model_fingerprint(model);
    if !status.models.iter().any(|m| m.fingerprint == wanted) {
        return Err(AppError::ModelNotServed {
            endpoint,
            model_id: model.id().to_string(),
            version: model.version(),
            fingerprint: hex(&wanted),
        });
    }
    if !connection
        .has_key(&key_id)
        .map_err(|e| remote_error(e, &endpoint))?
    {
        return Err(AppError::KeyNotRegistered {
            endpoint,
            key_set: key_id.to_string(),
        });
    }
    let limits = status.limits.unwrap_or_default();
    let in_flight = (2 * limits.workers.max(1)).min(limits.max_queue.max(1)) as usize;
    tracing::info!(
        endpoint = endpoint.as_str(),
        evaluator_version = status.server_version.as_str(),
        workers = limits.workers,
        in_flight,
        "evaluator service ready"
    );
    Ok(RemoteEvaluator::new(Arc::new(connection), in_flight))
}

/// What `register` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Registration {
    /// The evaluator already held the key: nothing was sent.
    AlreadyHeld,
    /// The key was uploaded (bytes sent).
    Uploaded(u64),
}

/// Upload this workstation's server key (checked against the vault's record) to the
/// evaluator of `choice` (a saved one replacing the default), unless it already holds it;
/// audited. Returns what happened, the key set and the evaluator's address.
/// `progress(sent, total)` hears the upload.
pub fn register(
    dir: &DataDir,
    password: &Password,
    choice: EvaluatorChoice,
    progress: Arc<dyn Fn(u64, u64) + Send + Sync>,
) -> Result<(Registration, String, String)> {
    let unlocked = Unlocked::open(dir, password)?;
    let config = match resolve(&unlocked, choice)? {
        EvaluatorChoice::Remote(config) | EvaluatorChoice::SavedOr(config) => config,
        EvaluatorChoice::InProcess => {
            return Err(AppError::EvaluatorRefused {
                endpoint: "in-process".into(),
                reason: "the in-process evaluator needs no registration".into(),
            })
        }
    };
    let bytes = unlocked.server_key_bytes(dir)?;
    let key_set = fingerprint(&bytes);
    let key_id = ServerKeyId::of_key(&bytes);
    let endpoint = config.address.to_string();
    let connection = connect(config)?;
    if connection
        .has_key(&key_id)
        .map_err(|e| remote_error(e, &endpoint))?
    {
        return Ok((Registration::AlreadyHeld, key_set, endpoint));
    }
    let total = bytes.len() as u64;
    let sent = connection
        .put_server_key(
            Arc::new(bytes),
            &key_id,
            Arc::new(move |n| progress(n, total)),
        )
        .map_err(|e| remote_error(e, &endpoint))?;
    let db = unlocked.open_database(dir)?;
    db.log_event(
        AuditEvent::ServerKeyRegistered,
        &format!("key set {key_set} with the evaluator at {endpoint}"),
    )?;
    unlocked.record_floor(&db)?;
    tracing::info!(bytes = sent, "server key registered with the evaluator");
    Ok((Registration::Uploaded(sent), key_set, endpoint))
}
