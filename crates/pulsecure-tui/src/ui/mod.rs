//! Drawing: one function per screen, each reading its screen's state (from
//! [`crate::screens`]) and writing a frame; [`draw`] adds what the [`App`] shares (tabs,
//! message line, key hints, help). Nothing here changes state or waits for anything.

mod analytics;
mod entry;
mod equation_result;
mod help;
mod history;
mod keys;
mod result;
mod running;
mod unlock;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::app::App;
use crate::screens::result::ResultScreen;
use crate::screens::Screen;

/// The screening-aid disclaimer shown wherever a result is.
pub const DISCLAIMER: &str =
    "Screening aid, not a diagnosis: tuned for high recall; a high result means refer for clinical assessment.";

/// The disclaimer shown with a lab-free pre-screen's result (cvd-lr v3).
pub const PRE_SCREEN_DISCLAIMER: &str =
    "Screening aid, not a diagnosis: a lab-free pre-screen. Flagged: measure total and HDL cholesterol and creatinine, then compute PREVENT.";

/// The disclaimer shown with a published equation's result.
pub const EQUATION_DISCLAIMER: &str =
    "Screening aid, not a diagnosis: a population estimate from a published equation; decide on treatment with a clinician.";

/// Draw the whole UI.
pub fn draw(frame: &mut Frame, app: &App) {
    let [top, body, status, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_tabs(frame, top, app);
    match app.screen {
        Screen::Unlock => unlock::draw(frame, body, &app.unlock),
        Screen::Entry => entry::draw(frame, body, &app.entry),
        Screen::Running => {
            if let Some(job) = &app.running {
                running::draw(frame, body, job, app.now);
            }
        }
        Screen::Result => match &app.result {
            ResultScreen::CvdLr(r) => result::draw(frame, body, r),
            ResultScreen::Equations(r) => equation_result::draw(frame, body, r),
            ResultScreen::Empty => {}
        },
        Screen::History => history::draw(frame, body, &app.history),
        Screen::Analytics => analytics::draw(frame, body, &app.analytics),
        Screen::Keys => keys::draw(frame, body, &app.keys),
    }
    if let Some(s) = &app.status {
        let style = if s.error {
            Style::new().fg(Color::Red)
        } else {
            Style::new().fg(Color::Cyan)
        };
        frame.render_widget(Paragraph::new(Line::styled(s.text.clone(), style)), status);
    }
    frame.render_widget(Paragraph::new(Line::from(key_hints(app)).dim()), keys);
    if app.help {
        help::draw(frame, frame.area());
    }
}

fn draw_tabs(frame: &mut Frame, area: Rect, app: &App) {
    let mut spans = vec![Span::styled(
        " Pulsecure ",
        Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
    )];
    if app.screen != Screen::Unlock {
        let tabs = [
            (
                "F2 Screen",
                matches!(app.screen, Screen::Entry | Screen::Running | Screen::Result),
            ),
            ("F3 History", app.screen == Screen::History),
            ("F4 Analytics", app.screen == Screen::Analytics),
            ("F5 Keys", app.screen == Screen::Keys),
        ];
        for (label, active) in tabs {
            spans.push(Span::raw(" "));
            let style = if active {
                Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
            } else {
                Style::new()
            };
            spans.push(Span::styled(label, style));
        }
    }
    spans.push(Span::raw("  ? help").dim());
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn key_hints(app: &App) -> String {
    let quit = if app.typing_text() {
        "Ctrl-Q quit"
    } else {
        "q quit"
    };
    let hints = match app.screen {
        Screen::Unlock => "Enter unlock · Esc quit".to_string(),
        Screen::Entry => {
            format!("Tab/⇧Tab move · Space y/n · Enter screen · F6 model · ^L clear · {quit}")
        }
        Screen::Running => "Esc cancel · the UI stays usable while the evaluation runs".into(),
        Screen::Result => format!("Enter next patient · F3 history · {quit}"),
        Screen::History if app.history.editing_filter => "type to filter · Enter/Esc done".into(),
        Screen::History => {
            format!("↑/↓ select · Enter open · / filter · c class · r reload · {quit}")
        }
        Screen::Analytics if app.analytics.confirm.is_some() => {
            "y spend the budget · n/Esc cancel".into()
        }
        Screen::Analytics => format!("↑/↓ query · type ε · Enter quote · {quit}"),
        Screen::Keys => format!("r reload · {quit}"),
    };
    format!(" {hints}")
}

/// A box of at most `width` × exactly `height` cells centred in `area` (dialogs, overlays).
pub(crate) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [_, middle, _] = Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(height),
        Constraint::Min(0),
    ])
    .areas(area);
    let [_, boxed, _] = Layout::horizontal([
        Constraint::Min(0),
        Constraint::Max(width),
        Constraint::Min(0),
    ])
    .areas(middle);
    boxed
}

/// `12.3%`.
pub(crate) fn percent(p: f64) -> String {
    pulsecure_core::domain::assessment::risk_text(p)
}
