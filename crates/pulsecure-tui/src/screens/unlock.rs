//! The unlock screen's state: the password typed so far (never shown, wiped once sent), the
//! wrong attempts and the growing delay between them.

use std::time::{Duration, Instant};

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use secrecy::SecretString;
use zeroize::{Zeroize, Zeroizing};

use super::action::Action;
use crate::worker::Request;

/// Wrong passwords allowed before the UI exits.
pub const MAX_UNLOCK_ATTEMPTS: u32 = 5;

/// The unlock screen stops accepting characters once the password reaches this many bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Delay before the next unlock attempt after `failures` wrong passwords: 1, 2, 4, 8 s.
pub fn unlock_delay(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(6))
}

/// The unlock screen.
pub struct UnlockScreen {
    /// The password typed so far (wiped on drop and after sending). Allocated once at its
    /// largest size, so typing never reallocates and leaves an unwiped copy behind.
    pub password: Zeroizing<String>,
    /// Wrong passwords so far.
    pub failures: u32,
    /// No attempt before this instant.
    pub blocked_until: Option<Instant>,
    /// An unlock is running on the worker.
    pub busy: bool,
    /// Why the last attempt failed.
    pub error: Option<String>,
}

impl Default for UnlockScreen {
    fn default() -> Self {
        UnlockScreen {
            // Room for the limit plus one more character of up to 4 bytes.
            password: Zeroizing::new(String::with_capacity(MAX_PASSWORD_BYTES + 4)),
            failures: 0,
            blocked_until: None,
            busy: false,
            error: None,
        }
    }
}

impl UnlockScreen {
    /// A key press at `now`: typing, Enter sends the password (unless an attempt is running
    /// or the delay after a wrong one has not passed), Esc quits.
    pub fn handle_key(&mut self, key: KeyEvent, now: Instant) -> Action {
        match key.code {
            KeyCode::Esc => Action::Quit,
            KeyCode::Backspace => {
                self.password.pop();
                Action::Stay
            }
            KeyCode::Char(c) => {
                if self.password.len() < MAX_PASSWORD_BYTES {
                    self.password.push(c);
                }
                Action::Stay
            }
            KeyCode::Enter => self.send(now),
            _ => Action::Stay,
        }
    }

    fn send(&mut self, now: Instant) -> Action {
        if self.busy || self.password.is_empty() {
            return Action::Stay;
        }
        if let Some(until) = self.blocked_until {
            if now < until {
                let wait = until.duration_since(now).as_secs_f64().ceil();
                self.error = Some(format!("wait {wait:.0} s before trying again"));
                return Action::Stay;
            }
        }
        self.busy = true;
        self.error = None;
        // One exact-size copy into the secret; the typing buffer keeps its capacity and is
        // wiped in place.
        let typed = SecretString::from(self.password.as_str().to_string());
        self.password.zeroize();
        Action::Send(Request::Unlock(typed))
    }

    /// The worker found the password wrong at `now`: the attempt counts and the next one
    /// waits. Returns the message to stop the UI with once the attempts are used up.
    pub fn wrong_password(&mut self, now: Instant) -> Option<String> {
        self.busy = false;
        self.failures += 1;
        if self.failures >= MAX_UNLOCK_ATTEMPTS {
            return Some(format!(
                "{MAX_UNLOCK_ATTEMPTS} wrong passwords: pulsecure stopped. Start it again to retry."
            ));
        }
        let delay = unlock_delay(self.failures);
        self.blocked_until = Some(now + delay);
        self.error = Some(format!(
            "wrong password (attempt {} of {MAX_UNLOCK_ATTEMPTS}); next try in {} s",
            self.failures,
            delay.as_secs()
        ));
        None
    }

    /// The vault did not open for another reason (retrying will not help): say why.
    pub fn failed(&mut self, message: String) {
        self.busy = false;
        self.error = Some(message);
    }
}
