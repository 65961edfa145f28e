//! The terminal UI's ports implemented over a [`Workstation`]: unlocking a data directory
//! and every operation the screens need.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pulsecure_core::domain::analytics::Query;
use pulsecure_core::domain::assessment::equation_risk_text;
use pulsecure_core::domain::eligibility::NotEligible;
use pulsecure_core::domain::equation::InputValue;
use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::ports::privacy::BudgetStatus;
use pulsecure_core::ports::store::StoreError;
use pulsecure_core::usecase::analytics::Release;
use pulsecure_core::usecase::inference::{Recorded, Screening, Stage};
use pulsecure_core::{Model, PatientFeatures, PatientRef};
use pulsecure_tui::workbench::{
    EquationScreening, EquationVerdict, EquationVerdictKind, ModelChoice,
};
use pulsecure_tui::{HistoryEntry, TuiError, UnlockError, Unlocker, Workbench};
use pulsecure_vault::VaultError;
use secrecy::SecretString;

use crate::data_dir::DataDir;
use crate::dates::format_time;
use crate::equation_screening::{active_equation_model, selected_ids, EquationOutcome, PREVENT};
use crate::error::AppError;
use crate::evaluator_setting::EvaluatorChoice;
use crate::history::HistoryQuery;
use crate::screening::{PatientOutcome, RowStatus};
use crate::workstation::Workstation;

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
            Ok(workstation) => Ok(Arc::new(TuiWorkbench { workstation })),
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

/// One model's outcome as the result screen shows it.
fn verdict(model: &EquationModel, outcome: EquationOutcome) -> EquationVerdict {
    let output = model.output();
    let scale = f64::from(output.probability_scale);
    let (outcome, stored_earlier) = match outcome {
        EquationOutcome::Screened {
            assessment,
            category,
            status,
        } => (
            EquationVerdictKind::Screened {
                probability: assessment.probability,
                risk_text: equation_risk_text(assessment.probability),
                category,
                bands: output
                    .categories
                    .iter()
                    .map(|b| (b.name.clone(), b.below.map(|u| f64::from(u) / scale)))
                    .collect(),
            },
            status == RowStatus::AlreadyStored,
        ),
        EquationOutcome::NotEligible(decision) => (
            EquationVerdictKind::NotEligible {
                reason: decision.text,
            },
            decision.status == RowStatus::AlreadyStored,
        ),
    };
    EquationVerdict {
        model_id: model.id().to_string(),
        model_version: model.version(),
        outcome,
        stored_earlier,
    }
}

/// An unlocked workstation as the UI sees it.
pub struct TuiWorkbench {
    workstation: Workstation,
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

    fn record_not_eligible(
        &self,
        patient_ref: &PatientRef,
        why: &NotEligible,
    ) -> Result<EquationScreening, TuiError> {
        let outcome = self
            .workstation
            .record_not_eligible(patient_ref, why)
            .map_err(shown)?;
        self.workstation.records().record_state().map_err(shown)?;
        let decision = match outcome {
            PatientOutcome::NotEligible(decision) => decision,
            // An earlier screening of this reference under this model version is stored.
            PatientOutcome::Recorded(_) => return Err(shown(StoreError::Duplicate)),
        };
        let model = self.workstation.model();
        Ok(EquationScreening {
            verdicts: vec![EquationVerdict {
                model_id: model.id().to_string(),
                model_version: model.version(),
                outcome: EquationVerdictKind::NotEligible {
                    reason: decision.text,
                },
                stored_earlier: decision.status == RowStatus::AlreadyStored,
            }],
            evaluate: Duration::ZERO,
        })
    }

    fn equation_choices(&self) -> Vec<ModelChoice> {
        let records = self.workstation.records();
        let mut choices = Vec::new();
        let mut offer = |selector: &str, label: &str| {
            let models: std::result::Result<Vec<_>, AppError> = selected_ids(selector)
                .iter()
                .map(|id| active_equation_model(records, id))
                .collect();
            match models {
                Ok(models) => choices.push(ModelChoice::Equations {
                    selector: selector.to_string(),
                    label: label.to_string(),
                    models,
                }),
                // Shown in the log; the form simply does not offer it.
                Err(e) => tracing::warn!("model {selector} not offered: {e}"),
            }
        };
        offer(
            PREVENT,
            "PREVENT 10-year total CVD and ASCVD (AHA 2023, adults 30-79)",
        );
        offer(
            "pce-ascvd-10y",
            "Pooled Cohort Equations 10-year ASCVD (ACC/AHA 2013, adults 40-79)",
        );
        choices
    }

    fn screen_equations(
        &self,
        selector: &str,
        patient_ref: &PatientRef,
        values: &BTreeMap<String, InputValue>,
        progress: &mut dyn FnMut(Stage),
        keep: &dyn Fn() -> bool,
    ) -> Result<EquationScreening, TuiError> {
        let screeners = self
            .workstation
            .equation_screeners(selector)
            .map_err(shown)?;
        let mut evaluating: Option<Instant> = None;
        let mut evaluate = Duration::ZERO;
        let mut timed = |stage: Stage| {
            if let Some(since) = evaluating.take() {
                evaluate += since.elapsed();
            }
            if stage == Stage::Evaluate {
                evaluating = Some(Instant::now());
            }
            progress(stage);
        };
        let outcomes = match self.workstation.screen_equation_patient(
            &screeners,
            patient_ref,
            values,
            &mut timed,
            &|| !keep(),
        ) {
            Ok(Ok(outcomes)) => outcomes,
            Ok(Err(intake)) => return Err(TuiError(intake.to_string())),
            Err(e) => return Err(shown(e)),
        };
        let verdicts = screeners
            .iter()
            .zip(outcomes)
            .map(|(screener, outcome)| verdict(screener.model(), outcome))
            .collect();
        Ok(EquationScreening { verdicts, evaluate })
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
                let (risk_text, label, class, features) = match row.ineligible_reason() {
                    Some(why) => (
                        "-".to_string(),
                        "not eligible".to_string(),
                        None,
                        vec![("reason".to_string(), why.text().to_string())],
                    ),
                    None => (
                        row.risk_text(),
                        row.risk_label(),
                        Some(a.class),
                        row.displayed_features()
                            .map(|(name, value)| (name.to_string(), value))
                            .collect(),
                    ),
                };
                HistoryEntry {
                    id: row.stored.id,
                    patient_ref: r.patient_ref.as_str().to_string(),
                    when: format_time(r.created_at),
                    risk_text,
                    label,
                    class,
                    model: format!("{} v{}", a.model_id, a.model_version),
                    features,
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
        let server_key_fingerprint = records.unlocked.key_set().map_err(shown)?;
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
                match self.workstation.server_key_len() {
                    Some(n) => format!("{n} bytes"),
                    None => "held by the evaluator (not read at unlock)".into(),
                },
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
