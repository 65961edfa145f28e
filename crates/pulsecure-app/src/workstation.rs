//! A clinician's workstation for one session: the records plus the TFHE client and the
//! evaluator, resolved once. Every screening of either front end goes through it.

use std::sync::Arc;

use pulsecure_core::ports::fhe::Evaluator;
use pulsecure_core::Model;
use pulsecure_fhe::{TfheClient, TfheEvaluator};
use pulsecure_vault::Password;

use crate::data_dir::DataDir;
use crate::error::Result;
use crate::evaluator_service::remote_evaluator;
use crate::evaluator_setting::{resolve, EvaluatorChoice};
use crate::records::Records;
use crate::unlocked::Unlocked;

/// An unlocked workstation ready to screen.
pub struct Workstation {
    records: Records,
    client: TfheClient,
    evaluator: Box<dyn Evaluator>,
    in_flight: usize,
    /// Known when the key was read (in-process evaluation).
    server_key_len: Option<usize>,
    in_process: bool,
}

impl Workstation {
    /// Unlock `dir` with `password`: the vault, the database (audited), the active model
    /// (verified once), the TFHE client and the chosen evaluator.
    pub fn open(dir: &DataDir, password: &Password, evaluator: EvaluatorChoice) -> Result<Self> {
        let unlocked = Unlocked::open(dir, password)?;
        let evaluator = resolve(&unlocked, evaluator)?;
        let key_id = unlocked.server_key_id()?;
        let records = Records::with_unlocked(dir, unlocked)?;
        let model = Arc::clone(records.model());
        let client = records.unlocked.client(&model, key_id)?;
        let in_process = matches!(evaluator, EvaluatorChoice::InProcess);
        let (evaluator, in_flight, server_key_len): (Box<dyn Evaluator>, usize, Option<usize>) =
            match evaluator {
                EvaluatorChoice::InProcess => {
                    // The only case that needs the key itself on this side.
                    let server_key = records.unlocked.server_key_bytes(dir)?;
                    (
                        Box::new(TfheEvaluator::new(&server_key, &model)?),
                        rayon::current_num_threads(),
                        Some(server_key.len()),
                    )
                }
                EvaluatorChoice::Remote(config) | EvaluatorChoice::SavedOr(config) => {
                    let remote = remote_evaluator(config, &model, key_id)?;
                    let in_flight = remote.in_flight();
                    (Box::new(remote), in_flight, None)
                }
            };
        tracing::info!(
            model_id = model.id(),
            model_version = model.version(),
            "vault unlocked, workstation ready"
        );
        Ok(Workstation {
            records,
            client,
            evaluator,
            in_flight,
            server_key_len,
            in_process,
        })
    }

    /// The records (history, statistics, models) of this workstation.
    pub fn records(&self) -> &Records {
        &self.records
    }

    /// The active model.
    pub fn model(&self) -> &Arc<Model> {
        self.records.model()
    }

    /// The TFHE client (secret key side).
    pub fn client(&self) -> &TfheClient {
        &self.client
    }

    /// The evaluator (server key only).
    pub fn evaluator(&self) -> &dyn Evaluator {
        self.evaluator.as_ref()
    }

    /// Screenings a batch keeps in flight (the evaluator's parallelism).
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Whether the evaluator runs in this process (tests and offline use).
    pub fn is_in_process(&self) -> bool {
        self.in_process
    }

    /// Size of the public server key in bytes, when this process read it (in-process
    /// evaluation; a remote evaluator holds it and the file is not read).
    pub fn server_key_len(&self) -> Option<usize> {
        self.server_key_len
    }
}
