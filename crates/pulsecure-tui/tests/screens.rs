//! Screens driven alone, without the router: a key changes only the screen's own state and
//! says what the router must do. Pins the guards the router feeds in (a screening running)
//! that no key sequence through the whole app reaches.

mod support;

use std::time::Duration;

use pulsecure_tui::screens::action::Action;
use pulsecure_tui::screens::entry::EntryScreen;
use pulsecure_tui::screens::history::HistoryScreen;
use pulsecure_tui::screens::Screen;
use pulsecure_tui::worker::Request;
use pulsecure_tui::Workbench;
use ratatui::crossterm::event::KeyCode;
use support::{key, model, FakeBench};

fn unlocked_entry() -> EntryScreen {
    let mut entry = EntryScreen::default();
    let choices = FakeBench::new(Duration::ZERO).equation_choices();
    entry.unlocked(model(), choices);
    entry
}

#[test]
fn the_form_refuses_a_second_screening_and_a_model_change_while_one_runs() {
    let mut entry = unlocked_entry();
    let refused = entry.handle_key(key(KeyCode::Enter), true);
    assert!(
        matches!(&refused, Action::Say(s) if s.error && s.text.contains("already running")),
        "Enter while a screening runs"
    );
    assert!(
        !entry.form.as_ref().expect("form").tried_submit,
        "the form is not validated then"
    );
    assert!(matches!(entry.next_choice(true), Action::Say(s) if s.error));
    assert_eq!(entry.choice, 0);
    // Otherwise F6 moves on to PREVENT and asks for the entry screen with a message.
    let switched = entry.next_choice(false);
    assert!(matches!(switched, Action::Show(Screen::Entry, Some(s)) if !s.error));
    assert_eq!(entry.choice, 1);
}

#[test]
fn a_locked_form_ignores_keys() {
    let mut entry = EntryScreen::default();
    assert!(matches!(
        entry.handle_key(key(KeyCode::Enter), false),
        Action::Stay
    ));
    assert!(matches!(entry.next_choice(false), Action::Stay));
    assert!(!entry.typing_text());
}

#[test]
fn history_keys_stay_in_the_screen_until_a_reload() {
    let mut history = HistoryScreen::default();
    assert!(matches!(
        history.handle_key(key(KeyCode::Char('/'))),
        Action::Stay
    ));
    assert!(history.typing_text());
    for c in "P-".chars() {
        history.handle_key(key(KeyCode::Char(c)));
    }
    history.handle_key(key(KeyCode::Enter));
    assert_eq!(history.filter, "P-");
    assert!(!history.typing_text());
    assert!(matches!(
        history.handle_key(key(KeyCode::Char('r'))),
        Action::Send(Request::History)
    ));
    assert!(history.loading);
}
