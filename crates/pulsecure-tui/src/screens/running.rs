//! The running screen's state: the screening under way (its stages as the worker reports
//! them, and the flag Esc sets). The router keeps it, as it owns the worker's jobs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pulsecure_core::usecase::inference::Stage;
use pulsecure_core::PatientFeatures;
use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::action::Action;
use super::submission::Submission;

/// An evaluation in progress.
pub struct RunningJob {
    /// Job number.
    pub job: u64,
    /// Reference of the patient being screened.
    pub patient_ref: String,
    /// When it was submitted.
    pub started: Instant,
    /// The stage running now and when it began.
    pub stage: Option<(Stage, Instant)>,
    /// Stages finished, with their durations.
    pub done: Vec<(Stage, Duration)>,
    /// Set on Esc.
    pub cancel: Arc<AtomicBool>,
    /// The cvd-lr patient (for the result's contributions); `None` for published equations.
    patient: Option<PatientFeatures>,
}

impl RunningJob {
    /// Job `job` for `submission`, submitted at `started`; `cancel` is the flag the worker
    /// watches.
    pub fn new(
        job: u64,
        submission: &Submission,
        started: Instant,
        cancel: Arc<AtomicBool>,
    ) -> Self {
        RunningJob {
            job,
            patient_ref: submission.patient_ref().as_str().to_string(),
            started,
            stage: None,
            done: Vec::new(),
            cancel,
            patient: submission.patient().cloned(),
        }
    }

    /// The cvd-lr patient screened (for the result's contributions); `None` for published
    /// equations and not-eligible decisions.
    pub fn patient(&self) -> Option<&PatientFeatures> {
        self.patient.as_ref()
    }

    /// The worker reports `stage` begun at `now`: the previous one is done.
    pub fn enter(&mut self, stage: Stage, now: Instant) {
        if let Some((previous, since)) = self.stage.take() {
            self.done.push((previous, now.duration_since(since)));
        }
        self.stage = Some((stage, now));
    }

    /// Tell the worker to discard the result when the evaluation ends.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
}

/// A key press on the running screen: Esc cancels the screening.
pub fn handle_key(key: KeyEvent) -> Action {
    if key.code == KeyCode::Esc {
        Action::CancelRunning
    } else {
        Action::Stay
    }
}
