//! The analytics screen's state: the query and ε chosen, the quote waiting for the user's
//! yes (spent budget never comes back), the last release and the budget as last read.

use pulsecure_core::domain::analytics::{Query, PROBABILITY_CODE_MAX};
use pulsecure_core::ports::privacy::BudgetStatus;
use pulsecure_core::usecase::analytics::Release;
use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::action::Action;
use crate::status::Status;
use crate::workbench::TuiError;
use crate::worker::Request;

/// Longest ε as typed, in characters.
const MAX_EPSILON_CHARS: usize = 12;

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
pub struct AnalyticsScreen {
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

impl Default for AnalyticsScreen {
    fn default() -> Self {
        AnalyticsScreen {
            selected: 0,
            epsilon: "0.1".into(),
            confirm: None,
            last: None,
            budget: None,
            busy: false,
        }
    }
}

impl AnalyticsScreen {
    /// The screen is opened (F4): the request for the budget.
    pub fn load(&mut self) -> Request {
        self.busy = true;
        Request::Budget
    }

    /// A key press: pick the query, type ε, Enter asks for a quote; with a quote shown,
    /// `y` releases and `n` or Esc refuses.
    pub fn handle_key(&mut self, key: KeyEvent) -> Action {
        if let Some(pending) = self.confirm.clone() {
            return self.confirm_key(key, pending);
        }
        match key.code {
            KeyCode::Up => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down => self.selected = (self.selected + 1).min(analytics_queries().len() - 1),
            KeyCode::Backspace => {
                self.epsilon.pop();
            }
            KeyCode::Char(c)
                if (c.is_ascii_digit() || c == '.') && self.epsilon.len() < MAX_EPSILON_CHARS =>
            {
                self.epsilon.push(c)
            }
            KeyCode::Enter => return self.quote(),
            _ => {}
        }
        Action::Stay
    }

    fn confirm_key(&mut self, key: KeyEvent, pending: PendingRelease) -> Action {
        match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => {
                self.confirm = None;
                self.busy = true;
                Action::Send(Request::Release(pending.query, pending.epsilon))
            }
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                self.confirm = None;
                Action::Say(Status::info("not released; nothing was spent"))
            }
            _ => Action::Stay,
        }
    }

    /// Enter: ask what the chosen release would cost (nothing is spent yet).
    fn quote(&mut self) -> Action {
        if self.busy {
            return Action::Stay;
        }
        let Ok(epsilon) = self.epsilon.parse::<f64>() else {
            return Action::Say(Status::error("ε must be a positive number, e.g. 0.1"));
        };
        let Some((_, query)) = analytics_queries().get(self.selected).cloned() else {
            return Action::Stay;
        };
        self.busy = true;
        Action::Send(Request::Quote(query, epsilon))
    }

    /// The worker's quote: shown for confirmation. Returns the message to show if it failed.
    pub fn quoted(
        &mut self,
        result: Result<(Query, f64, f64, BudgetStatus), TuiError>,
    ) -> Option<Status> {
        self.busy = false;
        match result {
            Ok((query, epsilon, cost, budget)) => {
                self.budget = Some(budget);
                self.confirm = Some(PendingRelease {
                    query,
                    epsilon,
                    cost,
                    budget,
                });
                None
            }
            Err(e) => Some(Status::error(format!("not released: {e}"))),
        }
    }

    /// The worker's release (or its refusal); returns the message to show.
    pub fn released(&mut self, result: Result<Box<Release>, TuiError>) -> Option<Status> {
        self.busy = false;
        match result {
            Ok(release) => {
                self.budget = Some(release.budget);
                let message = if release.cached {
                    "recorded answer of an identical earlier release: nothing spent".into()
                } else {
                    format!("released; ε {:.4} spent", release.epsilon_charged)
                };
                self.last = Some(*release);
                Some(Status::info(message))
            }
            Err(e) => Some(Status::error(format!("not released: {e}"))),
        }
    }

    /// The budget as the worker read it; returns the message to show if it failed.
    pub fn budget_loaded(&mut self, result: Result<BudgetStatus, TuiError>) -> Option<Status> {
        self.busy = false;
        match result {
            Ok(b) => {
                self.budget = Some(b);
                None
            }
            Err(e) => Some(Status::error(format!("budget: {e}"))),
        }
    }
}
