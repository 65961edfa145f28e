//! Patient entry form: label, value, unit and range; invalid fields in red with the reason.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use crate::screens::entry::EntryScreen;

pub(super) fn draw(frame: &mut Frame, area: Rect, entry: &EntryScreen) {
    let Some(form) = &entry.form else {
        return;
    };
    let problems = form.problems();
    let [table_area, detail_area] = Layout::vertical([
        Constraint::Length(form.fields.len() as u16 + 2),
        Constraint::Min(0),
    ])
    .areas(area);
    let rows = form
        .fields
        .iter()
        .zip(&problems)
        .enumerate()
        .map(|(i, (field, problem))| {
            let focused = i == form.focus;
            let value = if focused && form.focus_takes_text() {
                field.display_with_cursor()
            } else {
                field.display_value()
            };
            let style = match (problem, focused) {
                (Some(_), _) => Style::new().fg(Color::Red),
                (None, true) => Style::new().add_modifier(Modifier::BOLD),
                (None, false) => Style::new(),
            };
            let hint = match problem {
                Some(p) => format!("✗ {} · {}", p.short, field.hint()),
                None => field.hint(),
            };
            let marker = if focused { "›" } else { " " };
            Row::new(vec![
                Cell::from(format!("{marker} {}", field.label())),
                Cell::from(value),
                Cell::from(hint),
            ])
            .style(style)
        });
    let title = match &entry.model {
        Some(m) => format!(
            " New screening — {} · F6 model ",
            entry.current_choice().label(m)
        ),
        None => " New screening ".into(),
    };
    let table = Table::new(
        rows,
        [
            Constraint::Length(25),
            Constraint::Length(14),
            Constraint::Fill(1),
        ],
    )
    .block(Block::bordered().title(title));
    frame.render_widget(table, table_area);

    let focused = form.focused();
    let mut lines = vec![Line::from(format!(
        "{} — {}: {}",
        focused.label(),
        focused.description(),
        focused.hint()
    ))];
    if let Some(p) = &problems[form.focus] {
        lines.push(Line::styled(
            format!("✗ {}", p.full),
            Style::new().fg(Color::Red),
        ));
    }
    lines.push(Line::from(
        "Values are encrypted on this machine; the evaluator never sees them.",
    ));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), detail_area);
}
