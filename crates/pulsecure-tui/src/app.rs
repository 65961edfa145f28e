//! The router: which screen is shown, the keys that work on every screen (quit, help,
//! F2–F6), the message line, and the worker's jobs (the running screening, numbered; every
//! reply handed to the screen it is for). Each screen's own state and keys live in
//! [`crate::screens`]. No terminal, no thread, no clock of its own (callers pass `now`), so
//! every screen can be driven and checked in tests.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::screens::action::Action;
use crate::screens::analytics::AnalyticsScreen;
use crate::screens::entry::EntryScreen;
use crate::screens::history::HistoryScreen;
use crate::screens::keys::KeysScreen;
use crate::screens::result::{EquationResultView, ResultScreen, ResultView};
use crate::screens::running::{self, RunningJob};
use crate::screens::submission::Submission;
use crate::screens::unlock::UnlockScreen;
use crate::screens::Screen;
use crate::status::Status;
use crate::workbench::{TuiError, UnlockError};
use crate::worker::{Reply, Request};

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
    /// Evaluation in progress (the running screen shows it).
    pub running: Option<RunningJob>,
    /// Result screen (the last finished screening).
    pub result: ResultScreen,
    /// History screen.
    pub history: HistoryScreen,
    /// Analytics screen.
    pub analytics: AnalyticsScreen,
    /// Keys screen.
    pub keys: KeysScreen,
    next_job: u64,
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
            analytics: AnalyticsScreen::default(),
            keys: KeysScreen::default(),
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
        if let Some(requests) = self.function_key(key.code) {
            return requests;
        }
        let screening = self.running.is_some();
        let action = match self.screen {
            Screen::Unlock => Action::Stay, // handled above, before the global keys
            Screen::Entry => self.entry.handle_key(key, screening),
            Screen::Running => running::handle_key(key),
            Screen::Result => self.result.handle_key(key),
            Screen::History => self.history.handle_key(key),
            Screen::Analytics => self.analytics.handle_key(key),
            Screen::Keys => self.keys.handle_key(key),
        };
        self.apply(action)
    }

    /// F2–F6, the same on every screen past the unlock; `None` for any other key.
    fn function_key(&mut self, code: KeyCode) -> Option<Vec<Request>> {
        let requests = match code {
            KeyCode::F(2) => {
                self.screen = if self.running.is_some() {
                    Screen::Running
                } else {
                    Screen::Entry
                };
                vec![]
            }
            KeyCode::F(3) => {
                self.screen = Screen::History;
                vec![self.history.load()]
            }
            KeyCode::F(4) => {
                self.screen = Screen::Analytics;
                vec![self.analytics.load()]
            }
            KeyCode::F(5) => {
                self.screen = Screen::Keys;
                vec![self.keys.load()]
            }
            KeyCode::F(6) => {
                let action = self.entry.next_choice(self.running.is_some());
                self.apply(action)
            }
            _ => return None,
        };
        Some(requests)
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
                self.say(status);
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

    /// Show `message` on the message line, if there is one (else the line is left as it is).
    fn say(&mut self, message: Option<Status>) {
        if message.is_some() {
            self.status = message;
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

    /// Esc on the running screen: the worker discards the result when the evaluation ends,
    /// and the form is back at once.
    fn cancel_running(&mut self) {
        if let Some(job) = self.running.take() {
            job.cancel();
            self.screen = Screen::Entry;
            self.status = Some(Status::info(
                "cancelled: the evaluation under way is discarded when it ends; nothing is stored",
            ));
        }
    }

    /// The running job, taken if `job` is it (it has ended); `None` for a job cancelled
    /// earlier, whose result is neither stored nor shown.
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
        self.status = Some(Status::info(message));
    }

    /// A screening failed: back to the form, as it was typed, saying why.
    fn screening_failed(&mut self, e: &TuiError) {
        self.screen = Screen::Entry;
        self.status = Some(Status::error(format!("screening failed: {e}")));
    }

    /// Apply a reply from the worker.
    pub fn handle_reply(&mut self, reply: Reply, now: Instant) {
        self.now = now;
        match reply {
            Reply::Unlocked(model, equations) => {
                self.unlock = UnlockScreen::default();
                self.entry.unlocked(*model, equations);
                self.screen = Screen::Entry;
                self.status = Some(Status::info("vault unlocked"));
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
                let message = self.history.loaded(result);
                self.say(message);
            }
            Reply::Quoted(result) => {
                let message = self.analytics.quoted(result);
                self.say(message);
            }
            Reply::Released(result) => {
                let message = self.analytics.released(result);
                self.say(message);
            }
            Reply::Budget(result) => {
                let message = self.analytics.budget_loaded(result);
                self.say(message);
            }
            Reply::KeyInfo(result) => self.keys.loaded(result),
        }
    }
}
