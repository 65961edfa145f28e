//! The history screen's state: the stored screenings as loaded, a reference filter typed
//! after `/`, a class filter (`c`), the selected entry and whether it is opened.

use pulsecure_core::RiskClass;
use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::action::Action;
use crate::status::Status;
use crate::workbench::{HistoryEntry, TuiError};
use crate::worker::Request;

/// Longest reference filter, in characters.
const MAX_FILTER_CHARS: usize = 64;

/// Which risk classes the history shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClassFilter {
    /// Both.
    #[default]
    All,
    /// High risk only.
    High,
    /// Low risk only.
    Low,
}

/// The history screen.
#[derive(Default)]
pub struct HistoryScreen {
    /// Everything loaded.
    pub entries: Vec<HistoryEntry>,
    /// Index into the filtered list.
    pub selected: usize,
    /// Reference substring filter.
    pub filter: String,
    /// Typing into the filter.
    pub editing_filter: bool,
    /// Class filter.
    pub class: ClassFilter,
    /// Showing the selected entry's details.
    pub open: bool,
    /// A load is running.
    pub loading: bool,
}

impl HistoryScreen {
    /// Entries passing the filters.
    pub fn visible(&self) -> Vec<&HistoryEntry> {
        self.entries
            .iter()
            .filter(|e| e.patient_ref.contains(self.filter.as_str()))
            .filter(|e| match self.class {
                ClassFilter::All => true,
                ClassFilter::High => e.class == Some(RiskClass::High),
                ClassFilter::Low => e.class == Some(RiskClass::Low),
            })
            .collect()
    }

    /// Whether keys are typed into the filter (so `q` and `?` are text, not shortcuts).
    pub fn typing_text(&self) -> bool {
        self.editing_filter
    }

    /// Start loading the stored screenings (on F3 and `r`): the request for the worker.
    pub fn load(&mut self) -> Request {
        self.loading = true;
        Request::History
    }

    /// The worker's answer to [`HistoryScreen::load`]; returns the message to show if it
    /// failed.
    pub fn loaded(&mut self, result: Result<Vec<HistoryEntry>, TuiError>) -> Option<Status> {
        self.loading = false;
        match result {
            Ok(entries) => {
                self.entries = entries;
                self.selected = 0;
                self.open = false;
                None
            }
            Err(e) => Some(Status::error(format!("history: {e}"))),
        }
    }

    /// A key press on the history screen.
    pub fn handle_key(&mut self, key: KeyEvent) -> Action {
        if self.editing_filter {
            self.filter_key(key);
            return Action::Stay;
        }
        let count = self.visible().len();
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(count.saturating_sub(1))
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Enter => self.open = count > 0 && !self.open,
            KeyCode::Esc => self.open = false,
            KeyCode::Char('/') => {
                self.editing_filter = true;
                self.open = false;
            }
            KeyCode::Char('c') => {
                self.class = match self.class {
                    ClassFilter::All => ClassFilter::High,
                    ClassFilter::High => ClassFilter::Low,
                    ClassFilter::Low => ClassFilter::All,
                };
                self.selected = 0;
                self.open = false;
            }
            KeyCode::Char('r') => return Action::Send(self.load()),
            _ => {}
        }
        Action::Stay
    }

    /// Typing into the filter: Enter or Esc ends it; the selection restarts at the top.
    fn filter_key(&mut self, key: KeyEvent) {
        match key.code {
            KeyCode::Enter | KeyCode::Esc => self.editing_filter = false,
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char(c)
                if !c.is_control() && self.filter.chars().count() < MAX_FILTER_CHARS =>
            {
                self.filter.push(c)
            }
            _ => {}
        }
        self.selected = 0;
    }
}
