//! Stored screenings: filterable list, and the selected one opened.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use pulsecure_core::RiskClass;

use crate::screens::history::{ClassFilter, HistoryScreen};

pub(super) fn draw(frame: &mut Frame, area: Rect, h: &HistoryScreen) {
    let visible = h.visible();
    let [filter_area, list_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let class = match h.class {
        ClassFilter::All => "all",
        ClassFilter::High => "high only",
        ClassFilter::Low => "low only",
    };
    let cursor = if h.editing_filter { "▏" } else { "" };
    frame.render_widget(
        Paragraph::new(format!(
            " Filter: reference contains \"{}{cursor}\" · class: {class} · {} of {} shown",
            h.filter,
            visible.len(),
            h.entries.len()
        )),
        filter_area,
    );
    let (table_area, detail_area) = if h.open {
        let [t, d] =
            Layout::vertical([Constraint::Min(5), Constraint::Length(12)]).areas(list_area);
        (t, Some(d))
    } else {
        (list_area, None)
    };
    let title = if h.loading {
        " History (loading…) "
    } else {
        " History "
    };
    let rows = visible.iter().map(|e| {
        let colour = match e.class {
            Some(RiskClass::High) => Color::Red,
            Some(RiskClass::Low) => Color::Green,
            None => Color::Gray,
        };
        Row::new(vec![
            e.id.to_string(),
            e.when.clone(),
            e.patient_ref.clone(),
            e.risk_text.clone(),
            e.label.clone(),
            e.model.clone(),
        ])
        .style(Style::new().fg(colour))
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(5),
            Constraint::Length(16),
            Constraint::Fill(1),
            Constraint::Length(8),
            Constraint::Length(12),
            Constraint::Length(22),
        ],
    )
    .header(
        Row::new(vec![
            "id",
            "when (UTC)",
            "reference",
            "risk",
            "class",
            "model",
        ])
        .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
    .block(Block::bordered().title(title));
    let mut state = TableState::default().with_selected(if visible.is_empty() {
        None
    } else {
        Some(h.selected)
    });
    frame.render_stateful_widget(table, table_area, &mut state);
    if let (Some(area), Some(entry)) = (detail_area, visible.get(h.selected)) {
        let mut lines = vec![Line::from(format!(
            " {} · {} · {} ({}) · {}",
            entry.patient_ref, entry.when, entry.risk_text, entry.label, entry.model
        ))];
        for (name, shown) in &entry.features {
            lines.push(Line::from(format!("   {name:<24} {shown}")));
        }
        frame.render_widget(
            Paragraph::new(lines).block(Block::bordered().title(" Screening (Esc closes) ")),
            area,
        );
    }
}
