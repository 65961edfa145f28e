//! Unlock screen: password without echo (one `*` per character would leak its length, so
//! only a count-free placeholder is shown), retries and delays.

use ratatui::layout::Rect;
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use crate::screens::unlock::{UnlockScreen, MAX_UNLOCK_ATTEMPTS};

pub(super) fn draw(frame: &mut Frame, area: Rect, u: &UnlockScreen) {
    let boxed = super::centered(area, 64, 9);
    let entered = if u.password.is_empty() {
        "(type your password)".dim()
    } else {
        "(password entered — not shown)".into()
    };
    let mut lines = vec![
        Line::from("Unlock the key vault to screen patients."),
        Line::from(""),
        Line::from(vec!["Password: ".bold(), entered]),
        Line::from(""),
    ];
    if u.busy {
        lines.push(Line::from(
            "Unlocking (Argon2id, then loading the server key)…",
        ));
    } else if let Some(e) = &u.error {
        lines.push(Line::styled(e.clone(), Style::new().fg(Color::Red)));
    } else {
        lines.push(
            Line::from(format!(
                "{MAX_UNLOCK_ATTEMPTS} attempts; each wrong one adds a delay."
            ))
            .dim(),
        );
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(" Unlock ")),
        boxed,
    );
}
