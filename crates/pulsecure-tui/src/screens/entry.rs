//! The patient entry screen's state: the model choice (cvd-lr, then the published
//! equations; F6 moves on) and its form; typing edits the form, Enter validates it into a
//! [`Submission`].

use pulsecure_core::domain::population::Screenable;
use pulsecure_core::Model;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;
use super::submission::Submission;
use super::Screen;
use crate::form::EntryForm;
use crate::status::Status;
use crate::workbench::ModelChoice;

/// The entry screen.
pub struct EntryScreen {
    /// The active cvd-lr model, once unlocked.
    pub model: Option<Model>,
    /// What the form can screen with: cvd-lr first, then the published equations (F6).
    pub choices: Vec<ModelChoice>,
    /// Index into `choices` of the form shown.
    pub choice: usize,
    /// Entry form, once unlocked.
    pub form: Option<EntryForm>,
}

impl Default for EntryScreen {
    /// Locked: no model, no form.
    fn default() -> Self {
        EntryScreen {
            model: None,
            choices: vec![ModelChoice::CvdLr],
            choice: 0,
            form: None,
        }
    }
}

impl EntryScreen {
    /// The vault opened: a cvd-lr form for `model`, with `equations` to switch to.
    pub fn unlocked(&mut self, model: Model, equations: Vec<ModelChoice>) {
        self.form = Some(EntryForm::new(&model));
        self.choices = std::iter::once(ModelChoice::CvdLr)
            .chain(equations)
            .collect();
        self.choice = 0;
        self.model = Some(model);
    }

    /// The form's model choice.
    pub fn current_choice(&self) -> &ModelChoice {
        self.choices.get(self.choice).unwrap_or(&ModelChoice::CvdLr)
    }

    /// Whether the focused field takes free text (so `q` and `?` are typed, not shortcuts).
    pub fn typing_text(&self) -> bool {
        self.form.as_ref().is_some_and(EntryForm::focus_takes_text)
    }

    /// Empty the form for the next patient.
    pub fn clear(&mut self) {
        if let Some(form) = self.form.as_mut() {
            form.clear();
        }
    }

    /// A key press on the form; `running`: a screening is under way (no second one starts).
    pub fn handle_key(&mut self, key: KeyEvent, running: bool) -> Action {
        let Some(form) = self.form.as_mut() else {
            return Action::Stay;
        };
        match key.code {
            KeyCode::Tab | KeyCode::Down => form.next(),
            KeyCode::BackTab | KeyCode::Up => form.previous(),
            KeyCode::Backspace => form.backspace(),
            KeyCode::Delete => form.delete(),
            KeyCode::Left => form.move_cursor(-1),
            KeyCode::Right => form.move_cursor(1),
            KeyCode::Home => form.cursor_to(false),
            KeyCode::End => form.cursor_to(true),
            KeyCode::Char('l') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                form.clear();
                return Action::Say(Status::info("form cleared"));
            }
            KeyCode::Char(c) => form.type_char(c),
            KeyCode::Enter => return self.submit(running),
            _ => {}
        }
        Action::Stay
    }

    /// F6 (on any screen): the next model choice, with an empty form for it (typed values
    /// are wiped), shown at once; refused while a screening runs (`running`).
    pub fn next_choice(&mut self, running: bool) -> Action {
        if running {
            return Action::Say(Status::error(
                "a screening is running: change the model when it has ended",
            ));
        }
        let Some(model) = self.model.as_ref() else {
            return Action::Stay;
        };
        if self.choices.len() < 2 {
            return Action::Say(Status::error("no other model is available"));
        }
        self.choice = (self.choice + 1) % self.choices.len();
        let choice = self.current_choice();
        let form = match choice {
            ModelChoice::CvdLr => EntryForm::new(model),
            ModelChoice::Equations { models, .. } => EntryForm::for_equations(models),
        };
        let label = choice.label(model);
        self.form = Some(form);
        Action::Show(
            Screen::Entry,
            Some(Status::info(format!("model: {label} (F6 changes it)"))),
        )
    }

    fn submit(&mut self, running: bool) -> Action {
        if running {
            return Action::Say(Status::error(
                "a screening is already running (F2 shows it, Esc there cancels)",
            ));
        }
        if let ModelChoice::Equations { selector, .. } = self.current_choice().clone() {
            return self.submit_equations(selector);
        }
        let (Some(form), Some(model)) = (self.form.as_mut(), self.model.as_ref()) else {
            return Action::Stay;
        };
        match form.submit(model) {
            Err(bad) => field_error(form, bad),
            // Nothing to encrypt: the worker stores the decision and answers with one
            // not-eligible verdict.
            Ok((patient_ref, Screenable::NotEligible(why))) => {
                Action::Submit(Submission::NotEligible { patient_ref, why })
            }
            Ok((patient_ref, Screenable::Eligible(patient))) => {
                Action::Submit(Submission::Screen {
                    patient_ref,
                    patient,
                })
            }
        }
    }

    fn submit_equations(&mut self, selector: String) -> Action {
        let Some(form) = self.form.as_mut() else {
            return Action::Stay;
        };
        match form.submit_values() {
            Err(bad) => field_error(form, bad),
            Ok((patient_ref, values)) => Action::Submit(Submission::Equations {
                selector,
                patient_ref,
                values,
            }),
        }
    }
}

/// The message for the form's first bad field (the full sentence, never the value).
fn field_error(form: &EntryForm, bad: usize) -> Action {
    let field = &form.fields[bad];
    let problem = field.problem(true).map(|p| p.full).unwrap_or_default();
    Action::Say(Status::error(format!("{}: {problem}", field.label())))
}
