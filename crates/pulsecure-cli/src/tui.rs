//! `pulsecure tui` (and `pulsecure` alone on a terminal): the terminal UI's workbench port
//! implemented over the real adapters — the vault, TFHE, SQLite and OpenDP.

use std::sync::Arc;

use anyhow::Result;
use pulsecure_core::app::analytics::{AnalyticsService, Release};
use pulsecure_core::app::inference::{InferenceService, Screening, Stage};
use pulsecure_core::domain::analytics::Query;
use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::ports::clock::{Clock, SystemClock};
use pulsecure_core::ports::privacy::{BudgetLedger, BudgetStatus};
use pulsecure_core::ports::store::{ScreeningRecord, ScreeningStore, StoreError};
use pulsecure_core::{Model, PatientFeatures};
use pulsecure_privacy::OpenDpMechanism;
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
}

fn shown(e: impl std::fmt::Display) -> TuiError {
    TuiError(format!("{e:#}"))
}

impl TuiSession {
    fn age_index(&self) -> usize {
        self.session
            .model
            .features()
            .iter()
            .position(|f| f.name == "age")
            .unwrap_or(0)
    }
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
        let model = &s.model;
        if s.db
            .contains(model.id(), model.version(), patient_ref)
            .map_err(shown)?
        {
            return Err(shown(StoreError::Duplicate {
                patient_ref: patient_ref.to_string(),
            }));
        }
        let service = InferenceService::new(model, &s.client, &s.evaluator);
        let screening = service.screen(patient, progress).map_err(shown)?;
        if !keep() {
            tracing::info!("screening cancelled from the UI; result discarded");
            return Err(TuiError("cancelled: the result was discarded".into()));
        }
        tracing::info!(
            evaluate_ms = screening.timings.evaluate.as_millis() as u64,
            "screening stored (tui)"
        );
        s.db.save(&ScreeningRecord {
            patient_ref: patient_ref.to_string(),
            created_at: SystemClock.now_unix_seconds(),
            features: patient.values().to_vec(),
            assessment: screening.assessment.clone(),
        })
        .map_err(shown)?;
        Ok(screening)
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
        let service = AnalyticsService::new(db, &OpenDpMechanism, db, self.age_index());
        let cost = service.quote(query, epsilon).map_err(shown)?;
        Ok((cost, db.status().map_err(shown)?))
    }

    fn release(&self, query: &Query, epsilon: f64) -> Result<Release, TuiError> {
        let db = &self.session.db;
        let service = AnalyticsService::new(db, &OpenDpMechanism, db, self.age_index());
        let release = service.release(query, epsilon).map_err(shown)?;
        if !release.cached {
            db.log_event(
                AuditEvent::PrivacyRelease,
                &format!("{} ε={}", query.key(), release.epsilon_charged),
            )
            .map_err(shown)?;
        }
        Ok(release)
    }

    fn budget(&self) -> Result<BudgetStatus, TuiError> {
        self.session.db.status().map_err(shown)
    }

    fn key_info(&self) -> Result<Vec<(String, String)>, TuiError> {
        let server_key = std::fs::read(self.dir.server_key()).map_err(shown)?;
        let model = &self.session.model;
        Ok(vec![
            ("Server key (public)".into(), fingerprint(&server_key)),
            (
                "Server key size".into(),
                format!("{} bytes", server_key.len()),
            ),
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
