//! `pulsecure tui` (and `pulsecure` alone on a terminal): the terminal UI's workbench port
//! implemented over the real adapters — the vault, TFHE, SQLite and OpenDP.

use std::sync::{Arc, OnceLock};

use anyhow::Result;
use pulsecure_core::app::analytics::Release;
use pulsecure_core::app::inference::{
    InferenceError, InferenceService, Recorded, Screening, Stage,
};
use pulsecure_core::domain::analytics::Query;
use pulsecure_core::ports::clock::SystemClock;
use pulsecure_core::ports::privacy::{BudgetLedger, BudgetStatus};
use pulsecure_core::ports::store::StoreError;
use pulsecure_core::{Model, PatientFeatures};
use pulsecure_store::ScreeningFilter;
use pulsecure_tui::{HistoryEntry, TuiError, UnlockError, Unlocker, Workbench};
use pulsecure_vault::{fingerprint, VaultError};
use secrecy::SecretString;

use crate::dates::format_time;
use crate::session::{DataDir, Session};

/// Start the UI on this terminal.
pub fn run(dir: &DataDir) -> Result<()> {
    dir.require_initialized()?;
    let unlocker = Arc::new(DirUnlocker { dir: dir.clone() });
    if let Some(message) = pulsecure_tui::run(unlocker)? {
        eprintln!("{message}");
    }
    Ok(())
}

struct DirUnlocker {
    dir: DataDir,
}

impl Unlocker for DirUnlocker {
    fn unlock(&self, password: SecretString) -> Result<Arc<dyn Workbench>, UnlockError> {
        match Session::start(&self.dir, &password) {
            Ok(session) => Ok(Arc::new(TuiSession {
                dir: self.dir.clone(),
                session,
                server_key_facts: OnceLock::new(),
            })),
            Err(e) if matches!(e.downcast_ref(), Some(VaultError::WrongPassword)) => {
                tracing::warn!("tui unlock refused: wrong password");
                Err(UnlockError::WrongPassword)
            }
            Err(e) => {
                tracing::error!("tui unlock failed: {e:#}");
                Err(UnlockError::Other(format!("{e:#}")))
            }
        }
    }
}

struct TuiSession {
    dir: DataDir,
    session: Session,
    /// Fingerprint and size of the 60 MB server key, read and hashed on the first visit
    /// to the keys screen only.
    server_key_facts: OnceLock<(String, usize)>,
}

impl TuiSession {
    fn server_key_facts(&self) -> Result<(String, usize), TuiError> {
        if let Some(facts) = self.server_key_facts.get() {
            return Ok(facts.clone());
        }
        let bytes = std::fs::read(self.dir.server_key()).map_err(shown)?;
        let facts = (fingerprint(&bytes), bytes.len());
        Ok(self.server_key_facts.get_or_init(|| facts).clone())
    }
}

fn shown(e: impl std::fmt::Display) -> TuiError {
    TuiError(format!("{e:#}"))
}

impl Workbench for TuiSession {
    fn model(&self) -> &Model {
        &self.session.model
    }

    fn screen(
        &self,
        patient_ref: &str,
        patient: &PatientFeatures,
        progress: &mut dyn FnMut(Stage),
        keep: &dyn Fn() -> bool,
    ) -> Result<Screening, TuiError> {
        let s = &self.session;
        let service = InferenceService::new(&s.model, &s.client, &s.evaluator);
        let recorded = service.screen_and_record_unless_cancelled(
            &s.db,
            &SystemClock,
            patient_ref,
            patient,
            progress,
            &|| !keep(),
        );
        match recorded {
            Ok(Recorded::Stored(screening)) => {
                tracing::info!(
                    evaluate_ms = screening.timings.evaluate.as_millis() as u64,
                    "screening stored (tui)"
                );
                Ok(*screening)
            }
            Ok(Recorded::AlreadyStored) => Err(shown(StoreError::Duplicate {
                patient_ref: patient_ref.to_string(),
            })),
            Err(e) => {
                if matches!(e, InferenceError::Cancelled) {
                    tracing::info!("screening cancelled from the UI; result discarded");
                }
                Err(shown(e))
            }
        }
    }

    fn history(&self) -> Result<Vec<HistoryEntry>, TuiError> {
        let mut rows = self
            .session
            .db
            .history(&ScreeningFilter::default())
            .map_err(shown)?;
        rows.reverse();
        Ok(rows
            .into_iter()
            .map(|row| {
                let a = &row.record.assessment;
                HistoryEntry {
                    id: row.id,
                    patient_ref: row.record.patient_ref.clone(),
                    when: format_time(row.record.created_at),
                    probability: a.probability,
                    class: a.class,
                    model: format!("{} v{}", a.model_id, a.model_version),
                    features: row.record.features.clone(),
                }
            })
            .collect())
    }

    fn quote(&self, query: &Query, epsilon: f64) -> Result<(f64, BudgetStatus), TuiError> {
        let db = &self.session.db;
        let cost = crate::stats::analytics(db, &self.session.model)
            .quote(query, epsilon)
            .map_err(shown)?;
        Ok((cost, db.status().map_err(shown)?))
    }

    fn release(&self, query: &Query, epsilon: f64) -> Result<Release, TuiError> {
        let db = &self.session.db;
        let service = crate::stats::analytics(db, &self.session.model);
        crate::stats::release_audited(&service, db, query, epsilon).map_err(shown)
    }

    fn budget(&self) -> Result<BudgetStatus, TuiError> {
        self.session.db.status().map_err(shown)
    }

    fn key_info(&self) -> Result<Vec<(String, String)>, TuiError> {
        let (server_key_fingerprint, server_key_len) = self.server_key_facts()?;
        let model = &self.session.model;
        Ok(vec![
            ("Server key (public)".into(), server_key_fingerprint),
            ("Server key size".into(), format!("{server_key_len} bytes")),
            (
                "Client key".into(),
                "in the vault, never leaves this machine".into(),
            ),
            (
                "Model".into(),
                format!("{} v{}", model.id(), model.version()),
            ),
            (
                "Model SHA-256 (verified)".into(),
                pulsecure_core::ports::registry::ModelRegistry::accepted(
                    &self.session.db,
                    model.id(),
                )
                .map_err(shown)?
                .map(|a| a.sha256)
                .unwrap_or_default(),
            ),
            (
                "Model origin".into(),
                if model.version() == pulsecure_core::embedded_model::DEFAULT_MODEL_VERSION {
                    "embedded release, signed by the pinned release key".into()
                } else {
                    "installed release; its signature was re-verified at unlock".into()
                },
            ),
            ("Data directory".into(), self.dir.root.display().to_string()),
        ])
    }
}
