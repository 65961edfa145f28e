//! The help overlay (`?` or F1): every key binding.

use ratatui::layout::Rect;
use ratatui::style::Stylize;
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

/// Every binding, as shown.
pub const BINDINGS: &[(&str, &str)] = &[
    ("F2", "patient entry / the running screening"),
    ("F3", "history of stored screenings"),
    ("F4", "analytics (differential privacy)"),
    ("F5", "keys and model"),
    ("F6", "next model (cvd-lr, PREVENT, PCE): a new form"),
    ("Tab, ↓ / Shift-Tab, ↑", "next / previous field"),
    ("Space, y, n", "answer a yes/no field"),
    ("Space, first letter", "pick a level (sex, race)"),
    ("←/→, Home/End, Del", "move and delete within a field"),
    ("Enter", "screen the patient · open an entry · quote"),
    ("Esc", "cancel the running screening · close"),
    ("Ctrl-L", "clear the form"),
    ("/ · c · r", "history: filter · class filter · reload"),
    ("y / n", "analytics: confirm / refuse spending ε"),
    ("? or F1", "this help (any key closes it)"),
    ("q", "quit (Ctrl-Q or Ctrl-C while typing)"),
];

pub(super) fn draw(frame: &mut Frame, area: Rect) {
    let height = BINDINGS.len() as u16 + 4;
    let boxed = super::centered(area, 72, height);
    let mut lines: Vec<Line> = BINDINGS
        .iter()
        .map(|(keys, what)| Line::from(format!(" {keys:<22} {what}")))
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(" A screening aid, not a diagnosis.").italic());
    frame.render_widget(Clear, boxed);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Help ")),
        boxed,
    );
}
