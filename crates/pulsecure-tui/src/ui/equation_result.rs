//! A published-equation result: per model the 10-year risk, its category and the category
//! bands, or why the patient got no estimate; the time under encryption; the disclaimer.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::{EQUATION_DISCLAIMER, PRE_SCREEN_DISCLAIMER};
use crate::screens::result::EquationResultView;
use crate::workbench::{EquationVerdict, EquationVerdictKind};

/// Colour of a category by its position among the model's bands (last = highest).
fn band_colour(position: usize, bands: usize) -> Color {
    match bands.saturating_sub(position + 1) {
        0 => Color::Red,
        1 => Color::LightRed,
        2 => Color::Yellow,
        _ => Color::Green,
    }
}

/// `low <5 · borderline 5–7.5 · intermediate 7.5–20 · high ≥20 (%)`.
fn bands_text(bands: &[(String, Option<f64>)]) -> String {
    let pct = |p: f64| {
        let s = format!("{:.1}", p * 100.0);
        s.trim_end_matches(".0").to_string()
    };
    let mut lower: Option<f64> = None;
    let text = bands
        .iter()
        .map(|(name, upper)| {
            let text = match (lower, upper) {
                (None, Some(u)) => format!("{name} <{}", pct(*u)),
                (Some(l), Some(u)) => format!("{name} {}–{}", pct(l), pct(*u)),
                (Some(l), None) => format!("{name} ≥{}", pct(l)),
                (None, None) => name.clone(),
            };
            lower = *upper;
            text
        })
        .collect::<Vec<_>>()
        .join(" · ");
    format!("{text} (%)")
}

fn verdict_lines(v: &EquationVerdict) -> Vec<Line<'static>> {
    let earlier = if v.stored_earlier {
        " (stored by an earlier screening)"
    } else {
        ""
    };
    let model = format!(" {:<22}", format!("{} v{}", v.model_id, v.model_version));
    match &v.outcome {
        EquationVerdictKind::Screened {
            risk_text,
            category,
            bands,
            ..
        } => {
            let position = bands.iter().position(|(n, _)| n == category).unwrap_or(0);
            let colour = band_colour(position, bands.len());
            vec![
                Line::from(vec![
                    Span::raw(model),
                    Span::styled(
                        format!("{risk_text:>8}  {}", category.to_uppercase()),
                        Style::new().fg(colour).add_modifier(Modifier::BOLD),
                    ),
                    Span::raw(earlier).dim(),
                ]),
                Line::from(format!("   {}", bands_text(bands))).dim(),
            ]
        }
        EquationVerdictKind::NotEligible { reason } => vec![
            Line::from(vec![
                Span::raw(model),
                Span::styled(
                    "NOT ELIGIBLE — no estimate",
                    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
                ),
                Span::raw(earlier).dim(),
            ]),
            Line::from(format!("   {reason}")),
        ],
    }
}

pub(super) fn draw(frame: &mut Frame, area: Rect, r: &EquationResultView) {
    let mut lines = vec![
        Line::from(format!(" {} · {}", r.patient_ref, r.label)).bold(),
        Line::from(format!(" {}", r.subtitle)).dim(),
        Line::from(""),
    ];
    for v in &r.screening.verdicts {
        lines.extend(verdict_lines(v));
    }
    lines.push(Line::from(""));
    lines.push(
        Line::from(if r.any_screened() {
            format!(
                " evaluated under encryption in {:.1} ms; each result matched this machine's \
                 reference engine before it was shown and stored",
                r.screening.evaluate.as_secs_f64() * 1000.0
            )
        } else {
            " nothing was encrypted or sent; the decision is stored".to_string()
        })
        .dim(),
    );
    let [body, footer] = Layout::vertical([Constraint::Min(0), Constraint::Length(3)]).areas(area);
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title(" Result "))
            .wrap(Wrap { trim: false }),
        body,
    );
    frame.render_widget(
        Paragraph::new(
            Line::from(if r.screening_model {
                PRE_SCREEN_DISCLAIMER
            } else {
                EQUATION_DISCLAIMER
            })
            .italic(),
        )
        .wrap(Wrap { trim: true }),
        footer,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_read_as_published_cut_points() {
        let bands = vec![
            ("low".to_string(), Some(0.05)),
            ("borderline".to_string(), Some(0.075)),
            ("intermediate".to_string(), Some(0.2)),
            ("high".to_string(), None),
        ];
        assert_eq!(
            bands_text(&bands),
            "low <5 · borderline 5–7.5 · intermediate 7.5–20 · high ≥20 (%)"
        );
        assert_eq!(band_colour(3, 4), Color::Red);
        assert_eq!(band_colour(0, 4), Color::Green);
    }
}
