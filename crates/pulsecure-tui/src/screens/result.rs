//! The result screen's state: the last finished screening as it is shown, a cvd-lr result
//! (probability, class, per-feature contributions) or a published-equation one (a verdict
//! per model); Enter or `n` goes on to the next patient.

use pulsecure_core::reference::feature_contributions;
use pulsecure_core::usecase::inference::{Screening, StageTimings};
use pulsecure_core::{Model, QuantizedInput, RiskAssessment};
use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::action::Action;
use super::running::RunningJob;
use super::Screen;
use crate::workbench::{EquationScreening, EquationVerdictKind, ModelChoice};

/// A finished screening as the result screen shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultView {
    /// Pseudonymous reference.
    pub patient_ref: String,
    /// The decrypted assessment.
    pub assessment: RiskAssessment,
    /// Per-feature contributions in log-odds (label, value), computed on the client.
    pub contributions: Vec<(String, f64)>,
    /// Time per stage.
    pub timings: StageTimings,
    /// The model's class threshold as a probability.
    pub threshold: f64,
    /// The highest probability the model can output (the gauge's full scale).
    pub scale_max: f64,
    /// The model is a lab-free pre-screen for a published equation (its flag means "take
    /// the labs", not "high risk"), with the question it answers.
    pub pre_screen: Option<String>,
}

impl ResultView {
    /// `model`'s `screening` of the job `running`, with the contributions computed here
    /// from its patient; `None` if the job screened no cvd-lr patient.
    pub fn new(model: &Model, running: &RunningJob, screening: Screening) -> Option<Self> {
        let input = QuantizedInput::from_patient(model, running.patient()?);
        let contributions = model
            .features()
            .iter()
            .map(|f| f.name.replace('_', " "))
            .zip(feature_contributions(model, &input))
            .collect();
        let scale = f64::from(model.probability_scale());
        Some(ResultView {
            patient_ref: running.patient_ref.clone(),
            assessment: screening.assessment,
            contributions,
            timings: screening.timings,
            threshold: f64::from(model.threshold()) / scale,
            scale_max: f64::from(model.lut().iter().copied().max().unwrap_or(0)) / scale,
            pre_screen: model
                .target()
                .filter(|t| t.is_equation_pre_screen())
                .map(|t| t.label_rule().unwrap_or_default().to_string()),
        })
    }
}

/// A finished published-equation screening as the result screen shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct EquationResultView {
    /// Pseudonymous reference.
    pub patient_ref: String,
    /// What the form's title called the choice.
    pub label: String,
    /// What the estimates are and for whom (under the title).
    pub subtitle: String,
    /// The verdicts are a screening model's (cvd-lr: its disclaimer), not a published
    /// equation's.
    pub screening_model: bool,
    /// One verdict per model, and the time spent.
    pub screening: EquationScreening,
}

impl EquationResultView {
    /// `screening` of the job `running`, made with the form's `choice`; `model` is the
    /// session's cvd-lr model (`None` before the unlock), which names the choice.
    pub fn new(
        running: &RunningJob,
        model: Option<&Model>,
        choice: &ModelChoice,
        screening: EquationScreening,
    ) -> Self {
        let label = match model {
            Some(m) => choice.label(m),
            None => String::new(),
        };
        let (subtitle, screening_model) = match (choice, model) {
            (ModelChoice::CvdLr, Some(m)) => (
                match m.population() {
                    Some(p) => format!("screening model, for {}", p.rule),
                    None => "screening model".to_string(),
                },
                true,
            ),
            _ => (
                "10-year risk (published equation, for adults without known CVD)".to_string(),
                false,
            ),
        };
        EquationResultView {
            patient_ref: running.patient_ref.clone(),
            label,
            subtitle,
            screening_model,
            screening,
        }
    }

    /// At least one model gave an estimate (otherwise the patient was not eligible for any
    /// and only that decision was stored).
    pub fn any_screened(&self) -> bool {
        self.screening
            .verdicts
            .iter()
            .any(|v| matches!(v.outcome, EquationVerdictKind::Screened { .. }))
    }
}

/// The result screen.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum ResultScreen {
    /// Nothing to show.
    #[default]
    Empty,
    /// The last screening was cvd-lr's.
    CvdLr(ResultView),
    /// The last screening was published equations' (or a not-eligible decision).
    Equations(EquationResultView),
}

impl ResultScreen {
    /// The cvd-lr result shown, if that is what is shown.
    pub fn cvd_lr(&self) -> Option<&ResultView> {
        match self {
            ResultScreen::CvdLr(r) => Some(r),
            _ => None,
        }
    }

    /// The published-equation result shown, if that is what is shown.
    pub fn equations(&self) -> Option<&EquationResultView> {
        match self {
            ResultScreen::Equations(r) => Some(r),
            _ => None,
        }
    }

    /// A key press on the result screen: Enter or `n` goes on to the next patient.
    pub fn handle_key(&self, key: KeyEvent) -> Action {
        if matches!(key.code, KeyCode::Enter | KeyCode::Char('n')) {
            Action::Show(Screen::Entry, None)
        } else {
            Action::Stay
        }
    }
}
