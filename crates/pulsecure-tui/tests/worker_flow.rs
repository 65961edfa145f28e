//! The UI with its real worker thread and a slow fake engine: unlock with retries and
//! delays, a screening whose stages arrive while keys keep being handled, cancellation that
//! stores nothing, and the measured cost of a key press during an evaluation.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use pulsecure_tui::screens::unlock::{unlock_delay, MAX_UNLOCK_ATTEMPTS};
use pulsecure_tui::screens::Screen;
use pulsecure_tui::terminal::EventLoop;
use pulsecure_tui::worker;
use pulsecure_tui::{App, Workbench};
use ratatui::crossterm::event::{Event, KeyCode};
use support::*;

fn start(stage_delay: Duration) -> (EventLoop, Arc<FakeBench>) {
    let bench = Arc::new(FakeBench::new(stage_delay));
    let unlocker = Arc::new(FakeUnlocker {
        bench: bench.clone(),
    });
    let w = worker::spawn(unlocker).expect("worker starts");
    (
        EventLoop::new(App::new(Instant::now()), w.requests, w.replies),
        bench,
    )
}

fn press(lp: &mut EventLoop, code: KeyCode) {
    lp.handle_event(&Event::Key(key(code)), Instant::now());
}

fn type_in(lp: &mut EventLoop, text: &str) {
    for c in text.chars() {
        press(lp, KeyCode::Char(c));
    }
}

/// Turn the loop (drain replies, redraw) until `done` or the deadline.
fn pump_until(lp: &mut EventLoop, limit: Duration, done: impl Fn(&App) -> bool) {
    let deadline = Instant::now() + limit;
    while !done(&lp.app) {
        assert!(Instant::now() < deadline, "timed out waiting");
        std::thread::sleep(Duration::from_millis(5));
        lp.drain_replies(Instant::now());
        let _ = render(&lp.app, 80, 24);
    }
}

fn unlock(lp: &mut EventLoop) {
    type_in(lp, PASSWORD);
    press(lp, KeyCode::Enter);
    pump_until(lp, Duration::from_secs(5), |a| a.screen == Screen::Entry);
}

fn fill(lp: &mut EventLoop, patient_ref: &str, values: &[&str]) {
    type_in(lp, patient_ref);
    for v in values {
        press(lp, KeyCode::Tab);
        type_in(lp, v);
    }
}

#[test]
fn wrong_passwords_are_delayed_then_the_ui_stops() {
    let (mut lp, _) = start(Duration::ZERO);
    for attempt in 1..=MAX_UNLOCK_ATTEMPTS {
        // Wait out the delay of the previous failure (the app enforces it).
        if attempt > 1 {
            let until = lp
                .app
                .unlock
                .blocked_until
                .expect("blocked after a failure");
            type_in(&mut lp, "wrong password");
            press(&mut lp, KeyCode::Enter);
            assert!(
                !lp.app.unlock.busy,
                "an attempt inside the delay is refused"
            );
            assert!(lp
                .app
                .unlock
                .error
                .as_deref()
                .unwrap_or("")
                .contains("wait"));
            lp.app.unlock.blocked_until = Some(until - unlock_delay(attempt - 1));
            lp.app.unlock.password = Default::default();
        }
        type_in(&mut lp, "wrong password");
        press(&mut lp, KeyCode::Enter);
        pump_until(&mut lp, Duration::from_secs(5), |a| !a.unlock.busy);
        assert_eq!(lp.app.unlock.failures.min(attempt), attempt);
    }
    assert!(
        lp.app.quit,
        "the UI stops after {MAX_UNLOCK_ATTEMPTS} wrong passwords"
    );
    assert!(lp.app.exit_message.is_some());
    assert_eq!(unlock_delay(1), Duration::from_secs(1));
    assert_eq!(unlock_delay(4), Duration::from_secs(8));
}

#[test]
fn a_screening_runs_off_the_ui_thread_and_stores_its_result() {
    let (mut lp, bench) = start(Duration::from_millis(50));
    unlock(&mut lp);
    fill(&mut lp, "P-0007", &HIGH_RISK);
    press(&mut lp, KeyCode::Enter);
    assert_eq!(lp.app.screen, Screen::Running);
    pump_until(&mut lp, Duration::from_secs(10), |a| {
        a.screen == Screen::Result
    });
    let result = lp.app.result.cvd_lr().expect("result shown");
    assert_eq!(result.patient_ref, "P-0007");
    let history = bench.history().expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].class, Some(result.assessment.class));
    // The form is empty again for the next patient.
    let form = lp.app.entry.form.as_ref().expect("form");
    assert!(form
        .fields
        .iter()
        .all(|f| f.text.is_empty() && f.answer.is_none()));
}

#[test]
fn f6_switches_to_prevent_whose_form_screens_both_outputs() {
    let (mut lp, bench) = start(Duration::from_millis(10));
    unlock(&mut lp);
    press(&mut lp, KeyCode::F(6));
    let form = lp.app.entry.form.as_ref().expect("form");
    let labels: Vec<String> = form.fields.iter().map(|f| f.label()).collect();
    assert_eq!(
        labels,
        [
            "Patient reference",
            "Known CVD",
            "Age",
            "Sex",
            "Systolic BP",
            "BP medication",
            "Total cholesterol",
            "HDL cholesterol",
            "Statin",
            "Diabetes",
            "Current smoker",
            "eGFR"
        ]
    );
    // Out of the published range: refused on the form, naming the range, nothing sent.
    let mut patient = PREVENT_PATIENT;
    patient[5] = "400";
    fill(&mut lp, "P-0100", &patient);
    press(&mut lp, KeyCode::Enter);
    assert_eq!(lp.app.screen, Screen::Entry);
    let status = lp.app.status.as_ref().expect("status").text.clone();
    assert!(
        status.contains("Total cholesterol") && status.contains("130"),
        "{status}"
    );
    assert!(
        !status.contains("400"),
        "the value is not repeated: {status}"
    );
    // Fixed, it screens both PREVENT outputs and stores them.
    let form = lp.app.entry.form.as_mut().expect("form");
    form.fields[6].text = "220".into();
    form.fields[6].cursor = 3;
    press(&mut lp, KeyCode::Enter);
    pump_until(&mut lp, Duration::from_secs(10), |a| {
        a.screen == Screen::Result
    });
    let shown = lp.app.result.equations().expect("equation result");
    let ids: Vec<&str> = shown
        .screening
        .verdicts
        .iter()
        .map(|v| v.model_id.as_str())
        .collect();
    assert_eq!(ids, ["prevent-cvd-10y", "prevent-ascvd-10y"]);
    assert!(lp.app.result.cvd_lr().is_none());
    assert_eq!(bench.history().expect("history").len(), 2);
    // F6 again comes back to cvd-lr with its own form: the reference, known CVD (its
    // population excludes it), then its features.
    press(&mut lp, KeyCode::F(2));
    press(&mut lp, KeyCode::F(6));
    assert_eq!(
        lp.app.entry.form.as_ref().expect("form").fields.len(),
        2 + bench.model.features().len()
    );
}

#[test]
fn esc_cancels_and_nothing_is_stored() {
    let (mut lp, bench) = start(Duration::from_millis(150));
    unlock(&mut lp);
    fill(&mut lp, "P-0009", &LOW_RISK);
    press(&mut lp, KeyCode::Enter);
    pump_until(&mut lp, Duration::from_secs(5), |a| {
        a.running.as_ref().is_some_and(|r| r.stage.is_some())
    });
    press(&mut lp, KeyCode::Esc);
    assert_eq!(lp.app.screen, Screen::Entry, "Esc returns at once");
    // Let the fake engine finish (however slow the machine); its result must be dropped.
    let deadline = Instant::now() + Duration::from_secs(30);
    while bench.finished.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the fake engine never finished");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(50));
    lp.drain_replies(Instant::now());
    assert_eq!(lp.app.screen, Screen::Entry);
    assert!(lp.app.result.cvd_lr().is_none());
    assert!(
        bench.history().expect("history").is_empty(),
        "a cancelled screening is not stored"
    );
}

#[test]
fn key_presses_stay_fast_during_a_slow_evaluation() {
    // Each stage takes 400 ms in the fake engine: 1.6 s of "evaluation" on the worker.
    let (mut lp, _) = start(Duration::from_millis(400));
    unlock(&mut lp);
    fill(&mut lp, "P-0011", &HIGH_RISK);
    press(&mut lp, KeyCode::Enter);
    let mut worst = Duration::ZERO;
    let mut presses = 0;
    let mut stages_seen = 0;
    let keys = [
        KeyCode::F(3),
        KeyCode::F(2),
        KeyCode::Char('?'),
        KeyCode::Char('x'),
    ];
    while lp.app.result.cvd_lr().is_none() {
        for code in keys {
            // One loop turn as the terminal runs it: the key, the replies, a full redraw.
            let t = Instant::now();
            press(&mut lp, code);
            lp.drain_replies(Instant::now());
            let _ = render(&lp.app, 80, 24);
            worst = worst.max(t.elapsed());
            presses += 1;
        }
        if let Some(r) = &lp.app.running {
            stages_seen = stages_seen.max(r.done.len() + usize::from(r.stage.is_some()));
        }
        std::thread::sleep(Duration::from_millis(20));
        if lp.app.screen == Screen::History {
            press(&mut lp, KeyCode::F(2));
        }
        assert!(presses < 2000, "the screening never finished");
    }
    eprintln!("{presses} key presses during the evaluation, worst loop turn {worst:?}");
    assert!(
        stages_seen >= 3,
        "stages were reported while running ({stages_seen})"
    );
    assert!(
        worst < Duration::from_millis(50),
        "a key press took {worst:?} during an evaluation"
    );
}
