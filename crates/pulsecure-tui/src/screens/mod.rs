//! The screens' state, one file per screen beside its drawing in [`crate::ui`] (as gitui
//! splits its components): each struct owns what its screen shows and turns the key presses
//! meant for it into an [`action::Action`] for the router, [`crate::app::App`], which keeps
//! only what is shared (the screen shown, global keys, the message line, the running job)
//! and talks to the worker. No screen knows another screen or the terminal.

pub mod action;
pub mod analytics;
pub mod entry;
pub mod history;
pub mod keys;
pub mod result;
pub mod running;
pub mod submission;
pub mod unlock;

/// Which screen is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// Password entry.
    Unlock,
    /// Patient entry form.
    Entry,
    /// An encrypted evaluation in progress.
    Running,
    /// The last result.
    Result,
    /// Stored screenings.
    History,
    /// Differentially private statistics.
    Analytics,
    /// Key fingerprints and the model.
    Keys,
}
