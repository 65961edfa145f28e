//! Pulsecure's terminal UI (Ratatui + crossterm).
//!
//! Split the way gitui splits it: [`app::App`] holds all state and turns key presses and
//! worker replies into state changes and [`worker::Request`]s (testable without a terminal);
//! [`ui`] only draws an `App`; [`worker`] runs every slow operation (unlock with Argon2id,
//! encrypted evaluation, database reads, DP releases) on its own thread and reports progress
//! by channel, so a key press is never stuck behind a bootstrapping; [`terminal`] wires the
//! three to a real terminal.
//!
//! The binary supplies the real operations through the [`workbench`] port; this crate
//! depends on the core and on `pulsecure-batch` (for the one patient-reference rule) only:
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
