//! Pulsecure's terminal UI (Ratatui + crossterm).
//!
//! Split the way gitui splits it: each screen in [`screens`] owns its state and turns its
//! key presses into an action; [`app::App`] routes (the screen shown, global keys, the
//! message line, the running job) and turns key presses and worker replies into state
//! changes and [`worker::Request`]s (all testable without a terminal); [`ui`] only draws,
//! one file per screen beside its state; [`worker`] runs every slow operation (unlock with
//! Argon2id, encrypted evaluation, database reads, DP releases) on its own thread and
//! reports progress by channel, so a key press is never stuck behind a bootstrapping;
//! [`terminal`] wires them to a real terminal.
//!
//! The binary supplies the real operations through the [`workbench`] port; this crate
//! depends on the core and on `pulsecure-batch-input` (for the one patient-reference rule) only:
//! no tfhe, no SQLite, no OpenDP.

pub mod app;
pub mod form;
pub mod screens;
pub mod status;
pub mod terminal;
pub mod ui;
pub mod workbench;
pub mod worker;

pub use app::App;
pub use terminal::run;
pub use workbench::{HistoryEntry, TuiError, UnlockError, Unlocker, Workbench};
