//! `pulsecure tui` (and `pulsecure` alone on a terminal): starts the terminal UI over the
//! workstation's unlocker.

use std::sync::Arc;

use pulsecure_app::workbench::DirUnlocker;
use pulsecure_app::{DataDir, EvaluatorChoice};

use crate::error::CliError;

/// Start the UI on this terminal.
pub fn run(dir: &DataDir, evaluator: EvaluatorChoice) -> Result<(), CliError> {
    dir.require_initialized()?;
    let unlocker = Arc::new(DirUnlocker::new(dir.clone(), evaluator));
    let ended =
        pulsecure_tui::run(unlocker).map_err(|e| CliError::io("running the terminal UI", e))?;
    if let Some(message) = ended {
        eprintln!("{message}");
    }
    Ok(())
}
