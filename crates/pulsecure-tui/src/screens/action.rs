//! What a screen asks of the router after a key press: the one thing it cannot do itself
//! (switch screens, write the message line, hand work to the worker, start or cancel a
//! screening, quit).

use super::submission::Submission;
use super::Screen;
use crate::status::Status;
use crate::worker::Request;

/// The router's part of a key press; the screen has already changed its own state.
pub enum Action {
    /// Nothing more.
    Stay,
    /// Show this message under the screen.
    Say(Status),
    /// Switch to this screen, with a message for the message line (`None`: the line is left
    /// as it is).
    Show(Screen, Option<Status>),
    /// Hand this to the worker.
    Send(Request),
    /// Start this screening: the router numbers it, makes it the running job and shows it.
    Submit(Submission),
    /// Cancel the running screening (its result is discarded, nothing is stored).
    CancelRunning,
    /// Leave the UI.
    Quit,
}
