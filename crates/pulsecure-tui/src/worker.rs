//! The worker thread: runs [`Request`]s one at a time against the [`Unlocker`] and the
//! unlocked [`Workbench`], and sends [`Reply`]s (including stage progress) back by channel.
//! The UI thread never calls a slow operation itself.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use pulsecure_core::domain::analytics::Query;
use pulsecure_core::domain::eligibility::NotEligible;
use pulsecure_core::domain::equation::InputValue;
use pulsecure_core::ports::privacy::BudgetStatus;
use pulsecure_core::usecase::analytics::Release;
use pulsecure_core::usecase::inference::{Screening, Stage};
use pulsecure_core::{Model, PatientFeatures, PatientRef};
use secrecy::SecretString;

use crate::workbench::{
    EquationScreening, HistoryEntry, ModelChoice, TuiError, UnlockError, Unlocker, Workbench,
};

/// Work for the worker thread.
pub enum Request {
    /// Unlock with this password.
    Unlock(SecretString),
    /// Screen a patient; `job` tags the replies, `cancel` is set by Esc.
    Screen {
        /// Job number (replies for older jobs are ignored by the UI).
        job: u64,
        /// Pseudonymous reference.
        patient_ref: PatientRef,
        /// Validated values.
        patient: PatientFeatures,
        /// Set when the user cancels: the result is then discarded, not stored.
        cancel: Arc<AtomicBool>,
    },
    /// Screen a patient with published equations (a [`ModelChoice::Equations`]).
    ScreenEquations {
        /// Job number.
        job: u64,
        /// The choice's selector (`prevent`, `pce-ascvd-10y`).
        selector: String,
        /// Pseudonymous reference.
        patient_ref: PatientRef,
        /// The form's values by input name, plus `known_cvd`.
        values: BTreeMap<String, InputValue>,
        /// Set when the user cancels: nothing is stored then.
        cancel: Arc<AtomicBool>,
    },
    /// Store that a cvd-lr patient is outside the model's population (nothing encrypted);
    /// answered as [`Reply::EquationsScreened`] with one not-eligible verdict.
    RecordNotEligible {
        /// Job number.
        job: u64,
        /// Pseudonymous reference.
        patient_ref: PatientRef,
        /// Why.
        why: NotEligible,
    },
    /// Load the stored screenings.
    History,
    /// Quote a DP release.
    Quote(Query, f64),
    /// Perform a DP release (after confirmation).
    Release(Query, f64),
    /// Load the budget.
    Budget,
    /// Load key and model facts.
    KeyInfo,
}

/// What the worker reports.
pub enum Reply {
    /// The vault opened: the cvd-lr model to build the first form from, and the published
    /// equations the form can switch to.
    Unlocked(Box<Model>, Vec<ModelChoice>),
    /// The vault did not open.
    UnlockFailed(UnlockError),
    /// A screening entered a stage.
    Stage {
        /// Job number.
        job: u64,
        /// The stage now running.
        stage: Stage,
    },
    /// A screening ended (or failed, or was cancelled: `Err`).
    Screened {
        /// Job number.
        job: u64,
        /// The outcome.
        result: Result<Box<Screening>, TuiError>,
    },
    /// A published-equation screening ended (or failed, or was cancelled: `Err`).
    EquationsScreened {
        /// Job number.
        job: u64,
        /// The outcome.
        result: Result<Box<EquationScreening>, TuiError>,
    },
    /// Stored screenings.
    History(Result<Vec<HistoryEntry>, TuiError>),
    /// A quote: query, ε asked, ε charged, budget.
    Quoted(Result<(Query, f64, f64, BudgetStatus), TuiError>),
    /// A release.
    Released(Result<Box<Release>, TuiError>),
    /// The budget.
    Budget(Result<BudgetStatus, TuiError>),
    /// Key and model facts.
    KeyInfo(Result<Vec<(String, String)>, TuiError>),
}

/// Handle to the running worker.
pub struct Worker {
    /// Send work here.
    pub requests: Sender<Request>,
    /// Replies arrive here.
    pub replies: Receiver<Reply>,
    /// The thread (ends when `requests` is dropped).
    pub thread: JoinHandle<()>,
}

fn locked() -> TuiError {
    TuiError("the vault is locked".into())
}

/// Start the worker thread.
pub fn spawn(unlocker: Arc<dyn Unlocker>) -> std::io::Result<Worker> {
    let (requests, inbox) = channel::<Request>();
    let (outbox, replies) = channel::<Reply>();
    let thread = std::thread::Builder::new()
        .name("pulsecure-worker".into())
        .spawn(move || serve(unlocker.as_ref(), &inbox, &outbox))?;
    Ok(Worker {
        requests,
        replies,
        thread,
    })
}

fn serve(unlocker: &dyn Unlocker, inbox: &Receiver<Request>, outbox: &Sender<Reply>) {
    let mut bench: Option<Arc<dyn Workbench>> = None;
    for request in inbox {
        let reply = match (request, &bench) {
            (Request::Unlock(password), _) => match unlocker.unlock(password) {
                Ok(opened) => {
                    let model = Box::new(opened.model().clone());
                    let choices = opened.equation_choices();
                    bench = Some(opened);
                    Reply::Unlocked(model, choices)
                }
                Err(e) => Reply::UnlockFailed(e),
            },
            (
                Request::Screen {
                    job,
                    patient_ref,
                    patient,
                    cancel,
                },
                Some(b),
            ) => {
                let mut progress = |stage| {
                    let _ = outbox.send(Reply::Stage { job, stage });
                };
                let keep = || !cancel.load(Ordering::SeqCst);
                let result = b
                    .screen(&patient_ref, &patient, &mut progress, &keep)
                    .map(Box::new);
                Reply::Screened { job, result }
            }
            (Request::Screen { job, .. }, None) => Reply::Screened {
                job,
                result: Err(locked()),
            },
            (
                Request::ScreenEquations {
                    job,
                    selector,
                    patient_ref,
                    values,
                    cancel,
                },
                Some(b),
            ) => {
                let mut progress = |stage| {
                    let _ = outbox.send(Reply::Stage { job, stage });
                };
                let keep = || !cancel.load(Ordering::SeqCst);
                let result = b
                    .screen_equations(&selector, &patient_ref, &values, &mut progress, &keep)
                    .map(Box::new);
                Reply::EquationsScreened { job, result }
            }
            (Request::ScreenEquations { job, .. }, None) => Reply::EquationsScreened {
                job,
                result: Err(locked()),
            },
            (
                Request::RecordNotEligible {
                    job,
                    patient_ref,
                    why,
                },
                b,
            ) => Reply::EquationsScreened {
                job,
                result: b
                    .as_ref()
                    .ok_or_else(locked)
                    .and_then(|b| b.record_not_eligible(&patient_ref, &why))
                    .map(Box::new),
            },
            (Request::History, b) => {
                Reply::History(b.as_ref().ok_or_else(locked).and_then(|b| b.history()))
            }
            (Request::Quote(q, eps), b) => Reply::Quoted(
                b.as_ref()
                    .ok_or_else(locked)
                    .and_then(|b| b.quote(&q, eps))
                    .map(|(cost, budget)| (q, eps, cost, budget)),
            ),
            (Request::Release(q, eps), b) => Reply::Released(
                b.as_ref()
                    .ok_or_else(locked)
                    .and_then(|b| b.release(&q, eps))
                    .map(Box::new),
            ),
            (Request::Budget, b) => {
                Reply::Budget(b.as_ref().ok_or_else(locked).and_then(|b| b.budget()))
            }
            (Request::KeyInfo, b) => {
                Reply::KeyInfo(b.as_ref().ok_or_else(locked).and_then(|b| b.key_info()))
            }
        };
        if outbox.send(reply).is_err() {
            return; // the UI is gone
        }
    }
}
