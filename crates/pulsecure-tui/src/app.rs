//! All UI state, and the rules that change it: key presses and worker replies in, requests
//! for the worker out. No terminal, no thread, no clock of its own (callers pass `now`), so
//! every screen can be driven and checked in tests.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use pulsecure_core::app::analytics::Release;
use pulsecure_core::domain::analytics::{Query, PROBABILITY_CODE_MAX};
use pulsecure_core::ports::privacy::BudgetStatus;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::screens::action::Action;
use crate::screens::entry::EntryScreen;
use crate::screens::history::HistoryScreen;
use crate::screens::result::{EquationResultView, ResultScreen, ResultView};
use crate::screens::running::{self, RunningJob};
use crate::screens::submission::Submission;
use crate::screens::unlock::UnlockScreen;
use crate::screens::Screen;
use crate::status::Status;
use crate::workbench::{TuiError, UnlockError};
use crate::worker::{Reply, Request};

/// The queries the analytics screen offers, with their labels.
pub fn analytics_queries() -> [(&'static str, Query); 3] {
    [
        ("High-risk count", Query::HighRiskCount),
        (
            "Mean calibrated risk",
            Query::MeanRisk {
                lower: 0,
                upper: PROBABILITY_CODE_MAX,
            },
        ),
        ("Risk class × age band histogram", Query::Histogram),
    ]
}

/// A quoted release waiting for the user's yes.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingRelease {
    /// The query.
    pub query: Query,
    /// ε asked for.
    pub epsilon: f64,
    /// ε it will charge.
    pub cost: f64,
    /// Budget before it.
    pub budget: BudgetStatus,
}

/// The analytics screen.
pub struct AnalyticsState {
    /// Index into [`analytics_queries`].
    pub selected: usize,
    /// ε as typed.
    pub epsilon: String,
    /// Waiting for confirmation.
    pub confirm: Option<PendingRelease>,
    /// The last release.
    pub last: Option<Release>,
    /// The budget as last read.
    pub budget: Option<BudgetStatus>,
    /// A request is running.
    pub busy: bool,
}

impl Default for AnalyticsState {
    fn default() -> Self {
        AnalyticsState {
            selected: 0,
            epsilon: "0.1".into(),
            confirm: None,
            last: None,
            budget: None,
            busy: false,
        }
    }
}

/// The whole UI state.
pub struct App {
    /// Shown screen.
    pub screen: Screen,
    /// Help overlay shown.
    pub help: bool,
    /// Set when the UI should exit.
    pub quit: bool,
    /// Printed after the terminal is restored (e.g. too many wrong passwords).
    pub exit_message: Option<String>,
    /// Message line.
    pub status: Option<Status>,
    /// The clock as of the last event (for elapsed times and the unlock delay).
    pub now: Instant,
    /// Unlock screen.
    pub unlock: UnlockScreen,
    /// Patient entry screen (the model choice and its form).
    pub entry: EntryScreen,
    /// Evaluation in progress.
    pub running: Option<RunningJob>,
    /// Result screen (the last finished screening).
    pub result: ResultScreen,
    /// History screen.
    pub history: HistoryScreen,
    /// Analytics screen.
    pub analytics: AnalyticsState,
    /// Keys screen content.
    pub keys: Option<Result<Vec<(String, String)>, String>>,
    next_job: u64,
}

fn info(text: impl Into<String>) -> Option<Status> {
    Some(Status::info(text))
}

fn error(text: impl Into<String>) -> Option<Status> {
    Some(Status::error(text))
}

impl App {
    /// A locked UI at `now`.
    pub fn new(now: Instant) -> Self {
        App {
            screen: Screen::Unlock,
            help: false,
            quit: false,
            exit_message: None,
            status: None,
            now,
            unlock: UnlockScreen::default(),
            entry: EntryScreen::default(),
            running: None,
            result: ResultScreen::default(),
            history: HistoryScreen::default(),
            analytics: AnalyticsState::default(),
            keys: None,
            next_job: 1,
        }
    }

    /// Advance the clock (called on every loop turn).
    pub fn tick(&mut self, now: Instant) {
        self.now = now;
    }

    /// Whether the focused widget takes free text, so `q` and `?` are typed, not shortcuts.
    pub fn typing_text(&self) -> bool {
        match self.screen {
            Screen::Unlock => true,
            Screen::Entry => self.entry.typing_text(),
            Screen::History => self.history.typing_text(),
            _ => false,
        }
    }

    /// Apply a key press; returns the work to hand to the worker.
    pub fn handle_key(&mut self, key: KeyEvent, now: Instant) -> Vec<Request> {
        self.now = now;
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('q')) {
            self.quit = true;
            return vec![];
        }
        if self.help {
            self.help = false;
            return vec![];
        }
        if key.code == KeyCode::F(1) || (key.code == KeyCode::Char('?') && !self.typing_text()) {
            self.help = true;
            return vec![];
        }
        if self.screen == Screen::Unlock {
            let action = self.unlock.handle_key(key, now);
            return self.apply(action);
        }
        if key.code == KeyCode::Char('q') && !self.typing_text() && !ctrl {
            self.quit = true;
            return vec![];
        }
        match key.code {
            KeyCode::F(2) => {
                self.screen = if self.running.is_some() {
                    Screen::Running
                } else {
                    Screen::Entry
                };
                return vec![];
            }
            KeyCode::F(3) => {
                self.screen = Screen::History;
                return vec![self.history.load()];
            }
            KeyCode::F(4) => {
                self.screen = Screen::Analytics;
                self.analytics.busy = true;
                return vec![Request::Budget];
            }
            KeyCode::F(5) => {
                self.screen = Screen::Keys;
                return vec![Request::KeyInfo];
            }
            KeyCode::F(6) => {
                let action = self.entry.next_choice(self.running.is_some());
                return self.apply(action);
            }
            _ => {}
        }
        match self.screen {
            Screen::Unlock => vec![],
            Screen::Entry => {
                let action = self.entry.handle_key(key, self.running.is_some());
                self.apply(action)
            }
            Screen::Running => self.apply(running::handle_key(key)),
            Screen::Result => {
                let action = self.result.handle_key(key);
                self.apply(action)
            }
            Screen::History => {
                let action = self.history.handle_key(key);
                self.apply(action)
            }
            Screen::Analytics => self.analytics_key(key),
            Screen::Keys => {
                if key.code == KeyCode::Char('r') {
                    return vec![Request::KeyInfo];
                }
                vec![]
            }
        }
    }

    /// Do what a screen asked for; returns the work for the worker.
    fn apply(&mut self, action: Action) -> Vec<Request> {
        match action {
            Action::Stay => vec![],
            Action::Say(status) => {
                self.status = Some(status);
                vec![]
            }
            Action::Show(screen, status) => {
                self.screen = screen;
                if status.is_some() {
                    self.status = status;
                }
                vec![]
            }
            Action::Send(request) => vec![request],
            Action::Submit(submission) => vec![self.start_job(submission)],
            Action::CancelRunning => {
                self.cancel_running();
                vec![]
            }
            Action::Quit => {
                self.quit = true;
                vec![]
            }
        }
    }

    /// The submitted screening becomes the running job (the running screen shows it);
    /// returns the worker's request, numbered and with the flag Esc sets.
    fn start_job(&mut self, submission: Submission) -> Request {
        let job = self.next_job;
        self.next_job += 1;
        let cancel = Arc::new(AtomicBool::new(false));
        self.running = Some(RunningJob::new(
            job,
            &submission,
            self.now,
            Arc::clone(&cancel),
        ));
        self.screen = Screen::Running;
        self.status = None;
        submission.into_request(job, cancel)
    }

    /// The running job, taken if `job` is it (it has ended); `None` for a job cancelled
    /// earlier.
    fn take_job(&mut self, job: u64) -> Option<RunningJob> {
        if self.running.as_ref().is_some_and(|r| r.job == job) {
            self.running.take()
        } else {
            None
        }
    }

    /// A screening ended: show `shown`, say `message`, and empty the form for the next
    /// patient.
    fn show_result(&mut self, shown: ResultScreen, message: String) {
        self.result = shown;
        self.entry.clear();
        self.screen = Screen::Result;
        self.status = info(message);
    }

    /// A screening failed: back to the form, as it was typed, saying why.
    fn screening_failed(&mut self, e: &TuiError) {
        self.screen = Screen::Entry;
        self.status = error(format!("screening failed: {e}"));
    }

    fn cancel_running(&mut self) {
        if let Some(job) = self.running.take() {
            job.cancel();
            self.screen = Screen::Entry;
            self.status = info(
                "cancelled: the evaluation under way is discarded when it ends; nothing is stored",
            );
        }
    }

    fn analytics_key(&mut self, key: KeyEvent) -> Vec<Request> {
        let a = &mut self.analytics;
        if let Some(pending) = a.confirm.clone() {
            return match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    a.confirm = None;
                    a.busy = true;
                    vec![Request::Release(pending.query, pending.epsilon)]
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    a.confirm = None;
                    self.status = info("not released; nothing was spent");
                    vec![]
                }
                _ => vec![],
            };
        }
        match key.code {
            KeyCode::Up => a.selected = a.selected.saturating_sub(1),
            KeyCode::Down => a.selected = (a.selected + 1).min(analytics_queries().len() - 1),
            KeyCode::Backspace => {
                a.epsilon.pop();
            }
            KeyCode::Char(c) if (c.is_ascii_digit() || c == '.') && a.epsilon.len() < 12 => {
                a.epsilon.push(c)
            }
            KeyCode::Enter => {
                if a.busy {
                    return vec![];
                }
                let Ok(epsilon) = a.epsilon.parse::<f64>() else {
                    self.status = error("ε must be a positive number, e.g. 0.1");
                    return vec![];
                };
                let query = analytics_queries()[a.selected].1.clone();
                a.busy = true;
                return vec![Request::Quote(query, epsilon)];
            }
            _ => {}
        }
        vec![]
    }

    /// Apply a reply from the worker.
    pub fn handle_reply(&mut self, reply: Reply, now: Instant) {
        self.now = now;
        match reply {
            Reply::Unlocked(model, equations) => {
                self.unlock = UnlockScreen::default();
                self.entry.unlocked(*model, equations);
                self.screen = Screen::Entry;
                self.status = info("vault unlocked");
            }
            Reply::UnlockFailed(UnlockError::WrongPassword) => {
                if let Some(message) = self.unlock.wrong_password(now) {
                    self.quit = true;
                    self.exit_message = Some(message);
                }
            }
            Reply::UnlockFailed(UnlockError::Other(message)) => self.unlock.failed(message),
            Reply::Stage { job, stage } => {
                if let Some(r) = self.running.as_mut().filter(|r| r.job == job) {
                    r.enter(stage, now);
                }
            }
            Reply::Screened { job, result } => {
                // A job cancelled earlier: its result was not stored and is not shown.
                let Some(running) = self.take_job(job) else {
                    return;
                };
                match result {
                    Ok(screening) => {
                        let shown = self
                            .entry
                            .model
                            .as_ref()
                            .and_then(|model| ResultView::new(model, &running, *screening))
                            .map_or(ResultScreen::Empty, ResultScreen::CvdLr);
                        let message = format!("{} screened and stored", running.patient_ref);
                        self.show_result(shown, message);
                    }
                    Err(e) => self.screening_failed(&e),
                }
            }
            Reply::EquationsScreened { job, result } => {
                // A job cancelled earlier: nothing was stored and nothing is shown.
                let Some(running) = self.take_job(job) else {
                    return;
                };
                match result {
                    Ok(screening) => {
                        let view = EquationResultView::new(
                            &running,
                            self.entry.model.as_ref(),
                            self.entry.current_choice(),
                            *screening,
                        );
                        let message = if view.any_screened() {
                            format!("{} screened and stored", running.patient_ref)
                        } else {
                            format!(
                                "{}: not eligible; the decision is stored",
                                running.patient_ref
                            )
                        };
                        self.show_result(ResultScreen::Equations(view), message);
                    }
                    Err(e) => self.screening_failed(&e),
                }
            }
            Reply::History(result) => {
                if let Some(message) = self.history.loaded(result) {
                    self.status = Some(message);
                }
            }
            Reply::Quoted(result) => {
                self.analytics.busy = false;
                match result {
                    Ok((query, epsilon, cost, budget)) => {
                        self.analytics.budget = Some(budget);
                        self.analytics.confirm = Some(PendingRelease {
                            query,
                            epsilon,
                            cost,
                            budget,
                        });
                    }
                    Err(e) => self.status = error(format!("not released: {e}")),
                }
            }
            Reply::Released(result) => {
                self.analytics.busy = false;
                match result {
                    Ok(release) => {
                        self.analytics.budget = Some(release.budget);
                        self.status = info(if release.cached {
                            "recorded answer of an identical earlier release: nothing spent".into()
                        } else {
                            format!("released; ε {:.4} spent", release.epsilon_charged)
                        });
                        self.analytics.last = Some(*release);
                    }
                    Err(e) => self.status = error(format!("not released: {e}")),
                }
            }
            Reply::Budget(result) => {
                self.analytics.busy = false;
                match result {
                    Ok(b) => self.analytics.budget = Some(b),
                    Err(e) => self.status = error(format!("budget: {e}")),
                }
            }
            Reply::KeyInfo(result) => self.keys = Some(result.map_err(|e| e.to_string())),
        }
    }
}
