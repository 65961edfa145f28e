//! The terminal UI's ports implemented over a [`Workstation`]: unlocking a data directory
//! and every operation the screens need.

use std::sync::{Arc, OnceLock};

use pulsecure_core::app::analytics::Release;
use pulsecure_core::app::inference::{Recorded, Screening, Stage};
use pulsecure_core::domain::analytics::Query;
use pulsecure_core::ports::privacy::BudgetStatus;
use pulsecure_core::ports::store::StoreError;
use pulsecure_core::{Model, PatientFeatures, PatientRef};
use pulsecure_tui::{HistoryEntry, TuiError, UnlockError, Unlocker, Workbench};
use pulsecure_vault::{fingerprint, VaultError};
use secrecy::SecretString;

use crate::data_dir::{read_file, DataDir};
use crate::dates::format_time;
use crate::error::AppError;
use crate::history::HistoryQuery;
use crate::workstation::{EvaluatorChoice, Workstation};

/// Opens a [`Workstation`] on a data directory from the password the UI collected.
pub struct DirUnlocker {
    dir: DataDir,
    evaluator: EvaluatorChoice,
}

impl DirUnlocker {
    /// Unlock `dir`, screening with `evaluator`.
    pub fn new(dir: DataDir, evaluator: EvaluatorChoice) -> Self {
        DirUnlocker { dir, evaluator }
    }
}

impl Unlocker for DirUnlocker {
    fn unlock(&self, password: SecretString) -> Result<Arc<dyn Workbench>, UnlockError> {
        match Workstation::open(&self.dir, &password, self.evaluator.clone()) {
            Ok(workstation) => Ok(Arc::new(TuiWorkbench {
                workstation,
                server_key_fingerprint: OnceLock::new(),
            })),
            Err(AppError::Vault(VaultError::WrongPassword)) => {
                tracing::warn!("tui unlock refused: wrong password");
                Err(UnlockError::WrongPassword)
            }
            Err(e) => {
                tracing::error!("tui unlock failed: {e}");
                Err(UnlockError::Other(e.to_string()))
            }
        }
    }
}

/// An unlocked workstation as the UI sees it.
pub struct TuiWorkbench {
    workstation: Workstation,
    /// Fingerprint of the 60 MB server key, hashed on the first visit to the keys screen.
    server_key_fingerprint: OnceLock<String>,
}

fn shown(e: impl Into<AppError>) -> TuiError {
    TuiError(e.into().to_string())
}

impl Workbench for TuiWorkbench {
    fn model(&self) -> &Model {
        self.workstation.model()
    }

    fn screen(
        &self,
        patient_ref: &PatientRef,
        patient: &PatientFeatures,
        progress: &mut dyn FnMut(Stage),
        keep: &dyn Fn() -> bool,
    ) -> Result<Screening, TuiError> {
        match self
            .workstation
            .screen(patient_ref, patient, progress, &|| !keep())
        {
            Ok(Recorded::Stored(screening)) => Ok(*screening),
            Ok(Recorded::AlreadyStored(_)) => Err(shown(StoreError::Duplicate)),
            Err(e) => Err(shown(e)),
        }
    }

    fn history(&self) -> Result<Vec<HistoryEntry>, TuiError> {
        let rows = self
            .workstation
            .records()
            .history(&HistoryQuery::default())
            .map_err(shown)?;
        Ok(rows
            .into_iter()
            .rev()
            .map(|row| {
                let r = &row.stored.record;
                let a = &r.assessment;
                HistoryEntry {
                    id: row.stored.id,
                    patient_ref: r.patient_ref.as_str().to_string(),
                    when: format_time(r.created_at),
                    probability: a.probability,
                    class: a.class,
                    model: format!("{} v{}", a.model_id, a.model_version),
                    features: row
                        .displayed_features()
                        .map(|(name, value)| (name.to_string(), value))
                        .collect(),
                }
            })
            .collect())
    }

    fn quote(&self, query: &Query, epsilon: f64) -> Result<(f64, BudgetStatus), TuiError> {
        self.workstation
            .records()
            .quote(query, epsilon)
            .map_err(shown)
    }

    fn release(&self, query: &Query, epsilon: f64) -> Result<Release, TuiError> {
        self.workstation
            .records()
            .release(
                query,
                epsilon,
                crate::analytics::statistics_window(None).map_err(shown)?,
            )
            .map_err(shown)
    }

    fn budget(&self) -> Result<BudgetStatus, TuiError> {
        self.workstation.records().budget().map_err(shown)
    }

    fn key_info(&self) -> Result<Vec<(String, String)>, TuiError> {
        let records = self.workstation.records();
        let server_key_fingerprint = match self.server_key_fingerprint.get() {
            Some(f) => f.clone(),
            None => {
                let bytes = read_file(&records.dir().server_key()).map_err(shown)?;
                self.server_key_fingerprint
                    .get_or_init(|| fingerprint(&bytes))
                    .clone()
            }
        };
        let model = self.workstation.model();
        let sha256 = records
            .catalog()
            .sha256_of(model.id(), model.version())
            .map_err(shown)?;
        let mut info: Vec<(String, String)> = Vec::new();
        if records.database_recreated() {
            info.push((
                "WARNING: database".into(),
                "was missing and was created anew at this unlock; the model baseline and the \
                 spent privacy budget were carried over from the vault, earlier screenings and \
                 the audit log are gone (restore pulsecure.db from a backup if you have one)"
                    .into(),
            ));
        }
        info.extend(vec![
            ("Server key (public)".into(), server_key_fingerprint),
            (
                "Server key size".into(),
                format!("{} bytes", self.workstation.server_key_len()),
            ),
            (
                "Client key".into(),
                "in the vault, never leaves this machine".into(),
            ),
            (
                "Model".into(),
                format!("{} v{}", model.id(), model.version()),
            ),
            ("Model SHA-256 (verified)".into(), sha256),
            (
                "Model origin".into(),
                if model.version() == pulsecure_core::embedded_model::DEFAULT_MODEL_VERSION {
                    "embedded release, signed by the pinned release key".into()
                } else {
                    "installed release; its signature was re-verified at unlock".into()
                },
            ),
            (
                "Data directory".into(),
                records.dir().root().display().to_string(),
            ),
        ]);
        Ok(info)
    }
}
