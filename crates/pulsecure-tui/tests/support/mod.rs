//! Test doubles for the TUI: a fake workbench over the plaintext reference engine (clearly
//! not encrypted: it exists to drive the UI), an unlocker with a fixed password, and helpers
//! to type keys and render into a `TestBackend`.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pulsecure_core::domain::analytics::Query;
use pulsecure_core::domain::assessment::equation_risk_text;
use pulsecure_core::domain::eligibility::NotEligible;
use pulsecure_core::domain::equation::InputValue;
use pulsecure_core::domain::equation_intake::{intake, CholesterolUnits, Intake};
use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::ports::privacy::BudgetStatus;
use pulsecure_core::usecase::analytics::Release;
use pulsecure_core::usecase::inference::{Screening, Stage, StageTimings};
use pulsecure_core::{Model, PatientFeatures, PatientRef, QuantizedInput, ReferenceEngine};
use pulsecure_tui::app::App;
use pulsecure_tui::workbench::{
    EquationScreening, EquationVerdict, EquationVerdictKind, ModelChoice,
};
use pulsecure_tui::worker::{Reply, Request};
use pulsecure_tui::{HistoryEntry, TuiError, UnlockError, Unlocker, Workbench};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use secrecy::{ExposeSecret, SecretString};

/// The password the fake vault accepts.
pub const PASSWORD: &str = "correct horse battery";

/// The shipped model.
pub fn model() -> Model {
    pulsecure_testkit::models::default_model()
}

/// A workbench that answers from the reference engine after `stage_delay` per stage.
pub struct FakeBench {
    pub model: Model,
    pub stage_delay: Duration,
    pub stored: Mutex<Vec<HistoryEntry>>,
    pub releases: AtomicUsize,
    /// Screenings that ran to their end (stored or discarded).
    pub finished: AtomicUsize,
}

impl FakeBench {
    pub fn new(stage_delay: Duration) -> Self {
        FakeBench {
            model: model(),
            stage_delay,
            stored: Mutex::new(Vec::new()),
            releases: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
        }
    }
}

/// Fixed stage timings, so rendered results do not depend on the machine.
pub fn fixed_timings() -> StageTimings {
    StageTimings {
        normalize: Duration::from_micros(40),
        encrypt: Duration::from_millis(12),
        evaluate: Duration::from_millis(1250),
        decrypt: Duration::from_micros(300),
    }
}

pub fn budget() -> BudgetStatus {
    BudgetStatus {
        total: 1.0,
        spent: 0.25,
        remaining: 0.75,
    }
}

impl Workbench for FakeBench {
    fn model(&self) -> &Model {
        &self.model
    }

    fn screen(
        &self,
        patient_ref: &PatientRef,
        patient: &PatientFeatures,
        progress: &mut dyn FnMut(Stage),
        keep: &dyn Fn() -> bool,
    ) -> Result<Screening, TuiError> {
        for stage in Stage::ALL {
            progress(stage);
            std::thread::sleep(self.stage_delay);
        }
        let engine = ReferenceEngine::new(&self.model);
        let trace = engine.evaluate_input(&QuantizedInput::from_patient(&self.model, patient));
        let assessment = engine.assessment(&trace);
        self.finished.fetch_add(1, Ordering::SeqCst);
        if !keep() {
            return Err(TuiError("cancelled".into()));
        }
        let mut stored = self.stored.lock().expect("lock");
        let id = stored.len() as i64 + 1;
        stored.insert(
            0,
            HistoryEntry {
                id,
                patient_ref: patient_ref.as_str().to_string(),
                when: format!("2026-11-25 09:{:02}", id),
                risk_text: assessment.risk_text(),
                label: assessment.class.as_str().to_string(),
                class: Some(assessment.class),
                model: format!("{} v{}", self.model.id(), self.model.version()),
                features: self
                    .model
                    .features()
                    .iter()
                    .zip(patient.values())
                    .map(|(spec, &v)| (spec.name.clone(), spec.display_value(v)))
                    .collect(),
            },
        );
        Ok(Screening {
            assessment,
            timings: fixed_timings(),
            upload_bytes: 5735,
            download_bytes: 66286,
        })
    }

    fn equation_choices(&self) -> Vec<ModelChoice> {
        vec![ModelChoice::Equations {
            selector: "prevent".into(),
            label: "PREVENT 10-year total CVD and ASCVD".into(),
            models: prevent_models(),
        }]
    }

    /// The core's intake and reference engine in plaintext (the app's workbench encrypts).
    fn screen_equations(
        &self,
        selector: &str,
        patient_ref: &PatientRef,
        values: &BTreeMap<String, InputValue>,
        progress: &mut dyn FnMut(Stage),
        keep: &dyn Fn() -> bool,
    ) -> Result<EquationScreening, TuiError> {
        assert_eq!(selector, "prevent");
        for stage in Stage::ALL {
            progress(stage);
            std::thread::sleep(self.stage_delay);
        }
        let mut verdicts = Vec::new();
        for model in prevent_models() {
            let outcome = match intake(&model, values, CholesterolUnits::MgPerDl)
                .map_err(|e| TuiError(e.to_string()))?
            {
                Intake::NotEligible(why) => EquationVerdictKind::NotEligible {
                    reason: why.reason(),
                },
                Intake::Eligible(inputs) => {
                    let code = model.run(&inputs).probability;
                    let scale = f64::from(model.output().probability_scale);
                    let probability = f64::from(code) / scale;
                    EquationVerdictKind::Screened {
                        probability,
                        risk_text: equation_risk_text(probability),
                        category: model.output().categories[model.category_of(code)]
                            .name
                            .clone(),
                        bands: model
                            .output()
                            .categories
                            .iter()
                            .map(|b| (b.name.clone(), b.below.map(|u| f64::from(u) / scale)))
                            .collect(),
                    }
                }
            };
            verdicts.push(EquationVerdict {
                model_id: model.id().to_string(),
                model_version: model.version(),
                outcome,
                stored_earlier: false,
            });
        }
        self.finished.fetch_add(1, Ordering::SeqCst);
        if !keep() {
            return Err(TuiError("cancelled".into()));
        }
        let mut stored = self.stored.lock().expect("lock");
        for v in &verdicts {
            let id = stored.len() as i64 + 1;
            let (risk_text, label) = match &v.outcome {
                EquationVerdictKind::Screened {
                    risk_text,
                    category,
                    ..
                } => (risk_text.clone(), category.clone()),
                EquationVerdictKind::NotEligible { .. } => ("-".into(), "not eligible".into()),
            };
            stored.insert(
                0,
                HistoryEntry {
                    id,
                    patient_ref: patient_ref.as_str().to_string(),
                    when: format!("2026-11-25 10:{:02}", id),
                    risk_text,
                    label,
                    class: None,
                    model: format!("{} v{}", v.model_id, v.model_version),
                    features: Vec::new(),
                },
            );
        }
        Ok(EquationScreening {
            verdicts,
            evaluate: Duration::from_micros(2400),
        })
    }

    fn record_not_eligible(
        &self,
        _patient_ref: &PatientRef,
        why: &NotEligible,
    ) -> Result<EquationScreening, TuiError> {
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(EquationScreening {
            verdicts: vec![EquationVerdict {
                model_id: self.model.id().to_string(),
                model_version: self.model.version(),
                outcome: EquationVerdictKind::NotEligible {
                    reason: why.reason(),
                },
                stored_earlier: false,
            }],
            evaluate: Duration::ZERO,
        })
    }

    fn history(&self) -> Result<Vec<HistoryEntry>, TuiError> {
        Ok(self.stored.lock().expect("lock").clone())
    }

    fn quote(&self, query: &Query, epsilon: f64) -> Result<(f64, BudgetStatus), TuiError> {
        query.validate().map_err(|e| TuiError(e.to_string()))?;
        Ok((epsilon, budget()))
    }

    fn release(&self, query: &Query, epsilon: f64) -> Result<Release, TuiError> {
        self.releases.fetch_add(1, Ordering::SeqCst);
        Ok(Release {
            values: query
                .outputs()
                .iter()
                .enumerate()
                .map(|(i, _)| 10.0 + i as f64)
                .collect(),
            query: query.clone(),
            epsilon_charged: epsilon,
            cached: false,
            budget: BudgetStatus {
                total: 1.0,
                spent: 0.25 + epsilon,
                remaining: 0.75 - epsilon,
            },
        })
    }

    fn budget(&self) -> Result<BudgetStatus, TuiError> {
        Ok(budget())
    }

    fn key_info(&self) -> Result<Vec<(String, String)>, TuiError> {
        Ok(vec![
            ("Vault".into(), "SHA256:ab12:cd34:ef56:0789".into()),
            (
                "Model".into(),
                format!("{} v{}", self.model.id(), self.model.version()),
            ),
        ])
    }
}

/// The released PREVENT models (total CVD, ASCVD), read from the repository.
pub fn prevent_models() -> Vec<Arc<EquationModel>> {
    pulsecure_testkit::models::prevent_models()
        .into_iter()
        .map(Arc::new)
        .collect()
}

/// Accepts [`PASSWORD`] and hands out `bench`.
pub struct FakeUnlocker {
    pub bench: Arc<FakeBench>,
}

impl Unlocker for FakeUnlocker {
    fn unlock(&self, password: SecretString) -> Result<Arc<dyn Workbench>, UnlockError> {
        if password.expose_secret() == PASSWORD {
            Ok(self.bench.clone())
        } else {
            Err(UnlockError::WrongPassword)
        }
    }
}

pub fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// Type `text` into the app.
pub fn type_text(app: &mut App, text: &str, now: Instant) -> Vec<Request> {
    text.chars()
        .flat_map(|c| app.handle_key(key(KeyCode::Char(c)), now))
        .collect()
}

/// Render `app` at `width`×`height` and return the terminal (its backend prints the cells).
pub fn render(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal
        .draw(|frame| pulsecure_tui::ui::draw(frame, app))
        .expect("draw");
    terminal
}

/// The visible text of a rendered terminal.
pub fn screen_text(terminal: &Terminal<TestBackend>) -> String {
    terminal.backend().to_string()
}

/// An app unlocked directly (without a worker) with the shipped model.
pub fn unlocked_app(now: Instant) -> App {
    let mut app = App::new(now);
    let choices = FakeBench::new(Duration::ZERO).equation_choices();
    app.handle_reply(Reply::Unlocked(Box::new(model()), choices), now);
    app.status = None;
    app
}

/// Fill the form with a valid patient: reference, then the values in model order.
pub fn fill_form(app: &mut App, patient_ref: &str, values: &[&str], now: Instant) {
    type_text(app, patient_ref, now);
    for value in values {
        app.handle_key(key(KeyCode::Tab), now);
        type_text(app, value, now);
    }
}

/// A high-risk patient as typed (known CVD?, then the model's features: age, diabetes?,
/// systolic BP, current smoker?, male?, told high blood pressure?).
pub const HIGH_RISK: [&str; 7] = ["n", "72", "y", "165", "y", "y", "y"];
/// A low-risk patient as typed.
pub const LOW_RISK: [&str; 7] = ["n", "34", "n", "112", "n", "n", "n"];
/// A patient with known CVD: no estimate.
pub const KNOWN_CVD_PATIENT: [&str; 7] = ["y", "66", "n", "150", "n", "y", "y"];

/// A PREVENT patient as the form takes it after the reference (known CVD, then age, sex,
/// sbp, bp_tx, total_c, hdl_c, statin, dm, smoking, egfr — the model's input order).
pub const PREVENT_PATIENT: [&str; 11] =
    ["n", "55", "f", "140", "y", "220", "45", "n", "y", "n", "85"];

/// Whether a reply is a screening result.
pub fn is_screened(reply: &Reply) -> bool {
    matches!(reply, Reply::Screened { .. })
}
