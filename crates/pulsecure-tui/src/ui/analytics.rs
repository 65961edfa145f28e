//! Differentially private statistics: choose a query and ε, see the exact cost, confirm,
//! read the noisy answer and the budget left.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Gauge, Paragraph, Wrap};
use ratatui::Frame;

use pulsecure_core::domain::analytics::{Query, PROBABILITY_CODE_MAX};

use crate::screens::analytics::{analytics_queries, AnalyticsScreen};

pub(super) fn draw(frame: &mut Frame, area: Rect, a: &AnalyticsScreen) {
    let [budget_area, query_area, result_area] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(8),
        Constraint::Min(0),
    ])
    .areas(area);
    let (ratio, label) = match &a.budget {
        Some(b) if b.total > 0.0 => (
            (b.remaining / b.total).clamp(0.0, 1.0),
            format!(
                "ε {:.4} of {:.4} left (lifetime; never resets)",
                b.remaining, b.total
            ),
        ),
        _ => (0.0, "budget: loading…".to_string()),
    };
    frame.render_widget(
        Gauge::default()
            .block(Block::bordered().title(" Privacy budget "))
            .gauge_style(Style::new().fg(Color::Magenta))
            .ratio(ratio)
            .label(label),
        budget_area,
    );
    let mut lines: Vec<Line> = analytics_queries()
        .iter()
        .enumerate()
        .map(|(i, (label, _))| {
            let text = format!(" {} {label}", if i == a.selected { "›" } else { " " });
            if i == a.selected {
                Line::from(text).add_modifier(Modifier::BOLD)
            } else {
                Line::from(text)
            }
        })
        .collect();
    let (_, selected) = &analytics_queries()[a.selected];
    lines.push(Line::from(format!(" sensitivity: {}", selected.sensitivity())).dim());
    lines.push(Line::from(format!(" ε for this release: {}▏", a.epsilon)));
    if a.busy {
        lines.push(Line::from(" working…").dim());
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Query (Laplace noise via OpenDP) ")),
        query_area,
    );
    let mut out = Vec::new();
    if let Some(r) = &a.last {
        out.push(Line::from(format!(
            " {} — {}",
            r.query.key(),
            if r.cached {
                "recorded answer, nothing spent".to_string()
            } else {
                format!("ε {:.4} spent", r.epsilon_charged)
            }
        )));
        for (label, value) in r.query.outputs().iter().zip(&r.values) {
            out.push(Line::from(format!("   {label:<36} {value:>10.2}")));
        }
        if let (Query::MeanRisk { .. }, [sum, count]) = (&r.query, r.values.as_slice()) {
            if *count > 0.0 {
                out.push(Line::from(format!(
                    "   mean calibrated risk ≈ {:.1}%",
                    sum / count / PROBABILITY_CODE_MAX as f64 * 100.0
                )));
            }
        }
        out.push(Line::from(" Noisy by design: small counts are not reliable.").dim());
    } else {
        out.push(
            Line::from(
                " No release yet. Every release spends part of a budget that never comes back.",
            )
            .dim(),
        );
    }
    frame.render_widget(
        Paragraph::new(out)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Last release ")),
        result_area,
    );
    if let Some(p) = &a.confirm {
        let boxed = super::centered(area, 70, 7);
        frame.render_widget(Clear, boxed);
        frame.render_widget(
            Paragraph::new(vec![
                Line::from(format!(" Release {} at ε = {}?", p.query.key(), p.epsilon)),
                Line::from(format!(
                    " It costs ε = {:.6}; ε = {:.6} of {} remains.",
                    p.cost, p.budget.remaining, p.budget.total
                )),
                Line::from(" Spent budget never comes back.").fg(Color::Yellow),
                Line::from(" y spend · n cancel").bold(),
            ])
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(" Confirm spending privacy budget ")),
            boxed,
        );
    }
}
