//! Progress bars: drawn on stderr only when it is a terminal, hidden otherwise (scripts, logs).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar with `template` (indicatif syntax), visible only on a terminal.
pub fn terminal_bar(template: &str) -> ProgressBar {
    let bar = ProgressBar::hidden();
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}
