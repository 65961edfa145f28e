//! The keys screen's state: the key fingerprints and model facts as the worker read them
//! (no secret), reloaded with `r`.

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::action::Action;
use crate::workbench::TuiError;
use crate::worker::Request;

/// The keys screen.
#[derive(Default)]
pub struct KeysScreen {
    /// The facts (label, value) as last read, or why they could not be; `None` until the
    /// first answer.
    pub facts: Option<Result<Vec<(String, String)>, String>>,
}

impl KeysScreen {
    /// The screen is opened (F5) or reloaded (`r`): the request for the facts.
    pub fn load(&self) -> Request {
        Request::KeyInfo
    }

    /// The worker's answer to [`KeysScreen::load`].
    pub fn loaded(&mut self, result: Result<Vec<(String, String)>, TuiError>) {
        self.facts = Some(result.map_err(|e| e.to_string()));
    }

    /// A key press on the keys screen: `r` reloads.
    pub fn handle_key(&self, key: KeyEvent) -> Action {
        if key.code == KeyCode::Char('r') {
            Action::Send(self.load())
        } else {
            Action::Stay
        }
    }
}
