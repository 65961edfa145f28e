//! Every screen rendered into ratatui's `TestBackend` at the narrow 80×24 size (and the
//! result at 120×36), compared with the committed snapshots in `tests/snapshots/`.
//! The states are reached through the same key handling the real terminal uses.

mod support;

use std::time::{Duration, Instant};

use pulsecure_core::usecase::inference::Stage;
use pulsecure_tui::screens::Screen;
use pulsecure_tui::worker::{Reply, Request};
use pulsecure_tui::{UnlockError, Workbench};
use ratatui::crossterm::event::KeyCode;
use support::*;

fn snapshot(name: &str, app: &pulsecure_tui::App, width: u16, height: u16) {
    let terminal = render(app, width, height);
    insta::assert_snapshot!(name, terminal.backend());
}

/// Submit the filled form and answer it with a fresh fake bench, synchronously.
fn screen_now(app: &mut pulsecure_tui::App, now: Instant) {
    screen_with(app, &FakeBench::new(Duration::ZERO), now);
}

/// Submit the filled form and answer it with `bench`, synchronously.
fn screen_with(app: &mut pulsecure_tui::App, bench: &FakeBench, now: Instant) {
    let requests = app.handle_key(key(KeyCode::Enter), now);
    for request in requests {
        if let Request::Screen {
            job,
            patient_ref,
            patient,
            ..
        } = request
        {
            let result = bench
                .screen(&patient_ref, &patient, &mut |_| {}, &|| true)
                .map(Box::new);
            app.handle_reply(Reply::Screened { job, result }, now);
        } else if let Request::RecordNotEligible {
            job,
            patient_ref,
            why,
        } = request
        {
            let result = bench.record_not_eligible(&patient_ref, &why).map(Box::new);
            app.handle_reply(Reply::EquationsScreened { job, result }, now);
        }
    }
}

/// Submit the filled PREVENT form and answer it with a fresh fake bench, synchronously.
fn screen_equations_now(app: &mut pulsecure_tui::App, now: Instant) {
    let bench = FakeBench::new(Duration::ZERO);
    for request in app.handle_key(key(KeyCode::Enter), now) {
        if let Request::ScreenEquations {
            job,
            selector,
            patient_ref,
            values,
            ..
        } = request
        {
            let result = bench
                .screen_equations(&selector, &patient_ref, &values, &mut |_| {}, &|| true)
                .map(Box::new);
            app.handle_reply(Reply::EquationsScreened { job, result }, now);
        }
    }
}

#[test]
fn prevent_form_then_its_result() {
    let now = Instant::now();
    let mut app = unlocked_app(now);
    app.handle_key(key(KeyCode::F(6)), now);
    app.status = None;
    snapshot("entry_prevent_empty", &app, 80, 24);
    fill_form(&mut app, "P-0042", &PREVENT_PATIENT, now);
    screen_equations_now(&mut app, now);
    assert_eq!(app.screen, Screen::Result);
    app.status = None;
    snapshot("result_prevent_80x24", &app, 80, 24);
}

#[test]
fn prevent_form_known_cvd_is_not_eligible() {
    let now = Instant::now();
    let mut app = unlocked_app(now);
    app.handle_key(key(KeyCode::F(6)), now);
    let mut patient = PREVENT_PATIENT;
    patient[0] = "y";
    fill_form(&mut app, "P-0043", &patient, now);
    screen_equations_now(&mut app, now);
    app.status = None;
    snapshot("result_prevent_not_eligible", &app, 80, 24);
}

#[test]
fn cvd_lr_known_cvd_is_not_eligible_and_nothing_is_encrypted() {
    let now = Instant::now();
    let mut app = unlocked_app(now);
    fill_form(&mut app, "P-0044", &KNOWN_CVD_PATIENT, now);
    let requests = app.handle_key(key(KeyCode::Enter), now);
    assert!(
        matches!(requests.as_slice(), [Request::RecordNotEligible { .. }]),
        "a not-eligible patient is stored as such, never screened"
    );
    // Known CVD decides alone: the other fields may stay empty, as in a batch.
    let mut app = unlocked_app(now);
    fill_form(&mut app, "P-0045", &["y"], now);
    let requests = app.handle_key(key(KeyCode::Enter), now);
    assert!(
        matches!(requests.as_slice(), [Request::RecordNotEligible { .. }]),
        "known CVD with the rest empty"
    );
    let mut app = unlocked_app(now);
    fill_form(&mut app, "P-0046", &["n"], now);
    assert!(
        app.handle_key(key(KeyCode::Enter), now).is_empty(),
        "without known CVD every value is needed"
    );
    let mut app = unlocked_app(now);
    fill_form(&mut app, "P-0044", &KNOWN_CVD_PATIENT, now);
    screen_now(&mut app, now);
    assert_eq!(app.screen, Screen::Result);
    app.status = None;
    snapshot("result_cvd_lr_not_eligible", &app, 80, 24);
}

#[test]
fn unlock_screen() {
    let app = pulsecure_tui::App::new(Instant::now());
    snapshot("unlock", &app, 80, 24);
}

#[test]
fn unlock_after_a_wrong_password() {
    let now = Instant::now();
    let mut app = pulsecure_tui::App::new(now);
    type_text(&mut app, "nope", now);
    let sent = app.handle_key(key(KeyCode::Enter), now);
    assert_eq!(sent.len(), 1);
    app.handle_reply(Reply::UnlockFailed(UnlockError::WrongPassword), now);
    snapshot("unlock_wrong_password", &app, 80, 24);
}

#[test]
fn entry_form_empty() {
    let app = unlocked_app(Instant::now());
    snapshot("entry_empty", &app, 80, 24);
}

#[test]
fn entry_form_with_validation_errors() {
    let now = Instant::now();
    let mut app = unlocked_app(now);
    // Reference, age out of range, then an unparsable systolic value; the rest left empty.
    type_text(&mut app, "P-0042", now);
    app.handle_key(key(KeyCode::Tab), now);
    type_text(&mut app, "130", now);
    app.handle_key(key(KeyCode::Tab), now);
    app.handle_key(key(KeyCode::Tab), now);
    type_text(&mut app, "1-2", now);
    let sent = app.handle_key(key(KeyCode::Enter), now);
    assert!(sent.is_empty(), "an invalid form is not submitted");
    assert_eq!(app.screen, Screen::Entry);
    snapshot("entry_validation_errors", &app, 80, 24);
}

#[test]
fn running_screen_mid_evaluation() {
    let t0 = Instant::now();
    let mut app = unlocked_app(t0);
    fill_form(&mut app, "P-0007", &HIGH_RISK, t0);
    let sent = app.handle_key(key(KeyCode::Enter), t0);
    let Some(Request::Screen { job, .. }) = sent.into_iter().next() else {
        panic!("a valid form submits a screening");
    };
    let at = |ms| t0 + Duration::from_millis(ms);
    app.handle_reply(
        Reply::Stage {
            job,
            stage: Stage::Normalize,
        },
        at(0),
    );
    app.handle_reply(
        Reply::Stage {
            job,
            stage: Stage::Encrypt,
        },
        at(1),
    );
    app.handle_reply(
        Reply::Stage {
            job,
            stage: Stage::Evaluate,
        },
        at(41),
    );
    app.tick(at(1241));
    snapshot("running", &app, 80, 24);
}

#[test]
fn result_high_risk_narrow_and_wide() {
    let now = Instant::now();
    let mut app = unlocked_app(now);
    fill_form(&mut app, "P-0007", &HIGH_RISK, now);
    screen_now(&mut app, now);
    assert_eq!(app.screen, Screen::Result);
    snapshot("result_high_80x24", &app, 80, 24);
    snapshot("result_high_120x36", &app, 120, 36);
}

#[test]
fn result_low_risk() {
    let now = Instant::now();
    let mut app = unlocked_app(now);
    fill_form(&mut app, "P-0001", &LOW_RISK, now);
    screen_now(&mut app, now);
    snapshot("result_low_80x24", &app, 80, 24);
}

/// Three patients screened through the form, then F3; the bench's history answers it.
fn app_with_history(now: Instant) -> pulsecure_tui::App {
    let mut app = unlocked_app(now);
    let bench = FakeBench::new(Duration::ZERO);
    for (r, values) in [
        ("P-0001", &LOW_RISK),
        ("P-0007", &HIGH_RISK),
        ("Q-0003", &LOW_RISK),
    ] {
        fill_form(&mut app, r, values, now);
        screen_with(&mut app, &bench, now);
        app.handle_key(key(KeyCode::Enter), now);
    }
    let sent = app.handle_key(key(KeyCode::F(3)), now);
    assert!(matches!(sent.as_slice(), [Request::History]));
    app.handle_reply(Reply::History(bench.history()), now);
    app
}

#[test]
fn history_list_filter_and_open() {
    let now = Instant::now();
    let mut app = app_with_history(now);
    snapshot("history_list", &app, 80, 24);
    app.handle_key(key(KeyCode::Char('/')), now);
    type_text(&mut app, "P-", now);
    app.handle_key(key(KeyCode::Enter), now);
    app.handle_key(key(KeyCode::Down), now);
    app.handle_key(key(KeyCode::Enter), now);
    assert!(app.history.open);
    snapshot("history_filtered_open", &app, 80, 24);
}

#[test]
fn analytics_confirmation_and_release() {
    let now = Instant::now();
    let mut app = unlocked_app(now);
    let sent = app.handle_key(key(KeyCode::F(4)), now);
    assert!(matches!(sent.as_slice(), [Request::Budget]));
    app.handle_reply(Reply::Budget(Ok(budget())), now);
    app.handle_key(key(KeyCode::Down), now);
    app.handle_key(key(KeyCode::Backspace), now);
    type_text(&mut app, "2", now);
    let sent = app.handle_key(key(KeyCode::Enter), now);
    let Some(Request::Quote(query, epsilon)) = sent.into_iter().next() else {
        panic!("Enter asks for a quote first");
    };
    assert_eq!(epsilon, 0.2);
    app.handle_reply(
        Reply::Quoted(Ok((query.clone(), epsilon, epsilon, budget()))),
        now,
    );
    snapshot("analytics_confirm", &app, 80, 24);
    let sent = app.handle_key(key(KeyCode::Char('y')), now);
    assert!(matches!(sent.as_slice(), [Request::Release(_, _)]));
    let bench = FakeBench::new(Duration::ZERO);
    app.handle_reply(
        Reply::Released(bench.release(&query, epsilon).map(Box::new)),
        now,
    );
    snapshot("analytics_released", &app, 80, 24);
}

#[test]
fn keys_screen() {
    let now = Instant::now();
    let mut app = unlocked_app(now);
    app.handle_key(key(KeyCode::F(5)), now);
    let bench = FakeBench::new(Duration::ZERO);
    app.handle_reply(Reply::KeyInfo(bench.key_info()), now);
    snapshot("keys", &app, 80, 24);
}

#[test]
fn help_overlay() {
    let now = Instant::now();
    let mut app = unlocked_app(now);
    // In the reference field `?` is text; on a yes/no field (known CVD) it opens the help,
    // as F1 does.
    app.handle_key(key(KeyCode::Char('?')), now);
    assert!(!app.help);
    app.handle_key(key(KeyCode::Tab), now);
    app.handle_key(key(KeyCode::Char('?')), now);
    assert!(app.help);
    snapshot("help", &app, 80, 24);
    app.handle_key(key(KeyCode::Char('x')), now);
    assert!(!app.help, "any key closes the help");
}

#[test]
fn every_screen_survives_any_terminal_size() {
    // A resize can leave the terminal tiny: drawing must never panic, whatever the size.
    let now = Instant::now();
    let mut states = vec![pulsecure_tui::App::new(now), unlocked_app(now)];
    let mut result = unlocked_app(now);
    fill_form(&mut result, "P-0007", &HIGH_RISK, now);
    screen_now(&mut result, now);
    states.push(result);
    let mut running = unlocked_app(now);
    fill_form(&mut running, "P-0008", &LOW_RISK, now);
    running.handle_key(key(KeyCode::Enter), now);
    states.push(running);
    let mut history = app_with_history(now);
    history.handle_key(key(KeyCode::Enter), now);
    states.push(history);
    let mut help = unlocked_app(now);
    help.handle_key(key(KeyCode::F(1)), now);
    states.push(help);
    for app in &states {
        for (w, h) in [(1, 1), (10, 3), (20, 5), (40, 12), (79, 23), (200, 60)] {
            let _ = render(app, w, h);
        }
    }
}
