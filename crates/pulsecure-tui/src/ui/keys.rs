//! Keys and model: fingerprints, the active model and its signature (no secret is shown).

use ratatui::layout::Rect;
use ratatui::style::{Color, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use crate::screens::keys::KeysScreen;

pub(super) fn draw(frame: &mut Frame, area: Rect, keys: &KeysScreen) {
    let lines: Vec<Line> = match &keys.facts {
        None => vec![Line::from(" loading…").dim()],
        Some(Err(e)) => vec![Line::from(format!(" {e}")).fg(Color::Red)],
        Some(Ok(facts)) => {
            let width = facts
                .iter()
                .map(|(l, _)| l.chars().count())
                .max()
                .unwrap_or(0);
            facts
                .iter()
                .map(|(label, value)| Line::from(format!(" {label:<width$}  {value}")))
                .collect()
        }
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Keys and model ")),
        area,
    );
}
