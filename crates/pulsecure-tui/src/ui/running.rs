//! An evaluation in progress: the four stages with their times, and the elapsed total.

use std::time::Instant;

use pulsecure_core::usecase::inference::Stage;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Block, Gauge, Paragraph};
use ratatui::Frame;

use crate::screens::running::RunningJob;

fn describe(stage: Stage) -> &'static str {
    match stage {
        Stage::Normalize => "normalize  validate and quantize on this machine",
        Stage::Encrypt => "encrypt    TFHE, with the client key from the vault",
        Stage::Evaluate => "evaluate   on ciphertexts only (server key): linear sum, LUT, class",
        Stage::Decrypt => "decrypt    on this machine",
    }
}

pub(super) fn draw(frame: &mut Frame, area: Rect, job: &RunningJob, now: Instant) {
    let [gauge_area, list_area] =
        Layout::vertical([Constraint::Length(3), Constraint::Min(0)]).areas(area);
    let elapsed = now.saturating_duration_since(job.started);
    let current = job.stage.map(|(s, _)| s);
    let ratio = job.done.len() as f64 / Stage::ALL.len() as f64;
    let label = match current {
        Some(s) => format!("{} — {:.1} s elapsed", s.label(), elapsed.as_secs_f64()),
        None => format!("queued — {:.1} s elapsed", elapsed.as_secs_f64()),
    };
    frame.render_widget(
        Gauge::default()
            .block(Block::bordered().title(format!(" Screening {} ", job.patient_ref)))
            .gauge_style(Style::new().fg(Color::Cyan))
            .ratio(ratio.clamp(0.0, 1.0))
            .label(label),
        gauge_area,
    );
    let mut lines = Vec::new();
    for stage in Stage::ALL {
        let line = if let Some((_, took)) = job.done.iter().find(|(s, _)| *s == stage) {
            Line::from(format!(
                " ✓ {}  {:.2} s",
                describe(stage),
                took.as_secs_f64()
            ))
        } else if current == Some(stage) {
            let since = job
                .stage
                .map(|(_, at)| now.saturating_duration_since(at))
                .unwrap_or_default();
            Line::from(format!(
                " ▶ {}  {:.1} s",
                describe(stage),
                since.as_secs_f64()
            ))
            .bold()
        } else {
            Line::from(format!(" · {}", describe(stage))).dim()
        };
        lines.push(line);
    }
    lines.push(Line::from(""));
    lines.push(Line::from(
        " Esc cancels: the result is then discarded and nothing is stored.",
    ));
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Stages ")),
        list_area,
    );
}
