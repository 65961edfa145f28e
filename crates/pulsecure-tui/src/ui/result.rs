//! The result: probability gauge with the threshold and the two bands, the class, the
//! per-feature contributions as signed bars, the model, and the disclaimer.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Gauge, Paragraph, Wrap};
use ratatui::Frame;

use pulsecure_core::RiskClass;

use super::{percent, DISCLAIMER, PRE_SCREEN_DISCLAIMER};
use crate::screens::result::ResultView;

pub(super) fn draw(frame: &mut Frame, area: Rect, r: &ResultView) {
    let bars = r.contributions.len() as u16 + 2;
    let head = if r.pre_screen.is_some() { 3 } else { 2 };
    let [class_area, gauge_area, scale_area, bars_area, footer] = Layout::vertical([
        Constraint::Length(head),
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Length(bars),
        Constraint::Min(0),
    ])
    .areas(area);
    let (class_text, colour) = match (r.assessment.class, r.pre_screen.is_some()) {
        (RiskClass::High, false) => ("HIGH RISK — refer for clinical assessment", Color::Red),
        (RiskClass::Low, false) => (
            "LOW RISK — no follow-up suggested by this screening",
            Color::Green,
        ),
        (RiskClass::High, true) => (
            "FLAGGED — take the labs for a full PREVENT estimate",
            Color::Red,
        ),
        (RiskClass::Low, true) => (
            "NOT FLAGGED — no labs suggested by this pre-screen",
            Color::Green,
        ),
    };
    let mut head_lines = vec![
        Line::from(vec![
            Span::raw(format!(" {} · ", r.patient_ref)),
            Span::styled(
                class_text,
                Style::new().fg(colour).add_modifier(Modifier::BOLD),
            ),
        ]),
        Line::from(format!(
            " model {} v{} · evaluated under encryption in {:.1} s",
            r.assessment.model_id,
            r.assessment.model_version,
            r.timings.evaluate.as_secs_f64()
        ))
        .dim(),
    ];
    if let Some(rule) = &r.pre_screen {
        head_lines.push(Line::from(format!(" asks: {rule}?")).dim());
    }
    frame.render_widget(Paragraph::new(head_lines), class_area);
    let full = r.scale_max.max(r.threshold).max(1e-9);
    frame.render_widget(
        Gauge::default()
            .block(
                Block::bordered()
                    .title(format!(
                        " Calibrated probability {} (threshold {}) ",
                        percent(r.assessment.probability),
                        percent(r.threshold)
                    ))
                    .title_bottom(format!(
                        " scale 0–{}: the model's highest output ",
                        percent(full)
                    )),
            )
            .gauge_style(Style::new().fg(colour))
            .ratio((r.assessment.probability / full).clamp(0.0, 1.0))
            .label(percent(r.assessment.probability)),
        gauge_area,
    );
    frame.render_widget(
        Paragraph::new(scale_line(r, scale_area.width, full)),
        scale_area,
    );
    draw_contributions(frame, bars_area, r);
    frame.render_widget(
        Paragraph::new(vec![Line::from(if r.pre_screen.is_some() {
            PRE_SCREEN_DISCLAIMER
        } else {
            DISCLAIMER
        })
        .italic()])
        .wrap(Wrap { trim: true }),
        footer,
    );
}

/// The two bands to the gauge's scale (the model's highest output): low (░) below the
/// threshold, high (▓) from it on, with the threshold itself as `┃`.
fn scale_line(r: &ResultView, width: u16, full: f64) -> Line<'static> {
    let inner = width.saturating_sub(2) as usize;
    let at = (((r.threshold / full) * inner as f64).round() as usize).min(inner.saturating_sub(1));
    Line::from(vec![
        Span::raw(" "),
        Span::styled("░".repeat(at), Style::new().fg(Color::Green)),
        Span::raw("┃"),
        Span::styled(
            "▓".repeat(inner.saturating_sub(at + 1)),
            Style::new().fg(Color::Red),
        ),
    ])
}

fn draw_contributions(frame: &mut Frame, area: Rect, r: &ResultView) {
    let label_width = r
        .contributions
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let value_width = 7;
    let bar_space = (area.width as usize).saturating_sub(label_width + value_width + 6);
    let half = bar_space / 2;
    let largest = r
        .contributions
        .iter()
        .map(|(_, v)| v.abs())
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let lines: Vec<Line> = r
        .contributions
        .iter()
        .map(|(label, value)| {
            let cells = ((value.abs() / largest) * half as f64).round() as usize;
            let (left, right) = if *value < 0.0 {
                (format!("{:>half$}", "█".repeat(cells)), String::new())
            } else {
                (" ".repeat(half), "█".repeat(cells))
            };
            Line::from(vec![
                Span::raw(format!(" {label:<label_width$} ")),
                Span::styled(left, Style::new().fg(Color::Green)),
                Span::raw("│"),
                Span::styled(format!("{right:<half$}"), Style::new().fg(Color::Red)),
                Span::raw(format!(" {value:>+6.2}")),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(
            " Contributions in log-odds, vs. each range's lowest value (computed locally) ",
        )),
        area,
    );
}
