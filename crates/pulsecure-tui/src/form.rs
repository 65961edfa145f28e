//! The patient entry form: one field per model feature (plus the pseudonymous reference),
//! edited in place and validated live with the same rules as every other input path.

use std::collections::BTreeMap;
use std::sync::Arc;

use pulsecure_core::domain::equation::InputValue;
use pulsecure_core::domain::equation_intake::{
    clinic_column_description, clinic_column_label, KNOWN_CVD,
};
use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::domain::feature::{FeatureKind, FeatureSpec};
use pulsecure_core::domain::patient::{check_value, PatientError};
use pulsecure_core::domain::population::{intake_schema1, Screenable};
use pulsecure_core::{GivenField, Model, PatientRef};
use zeroize::Zeroize;

/// Longest text a numeric field accepts (a number needs far fewer).
const MAX_NUMBER_CHARS: usize = 16;

/// What a field holds.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldKind {
    /// The pseudonymous patient reference (stored with the result).
    PatientRef,
    /// A measurement typed as a number.
    Number(FeatureSpec),
    /// A yes/no answer toggled with Space (or `y` / `n`).
    YesNo(FeatureSpec),
    /// One of a published equation's levels (`answers`), cycled with Space or picked by its
    /// first letter.
    Choice(FeatureSpec),
}

/// One form field. `Debug` is redacted: the text is patient data.
#[derive(Clone, PartialEq)]
pub struct Field {
    /// What it holds.
    pub kind: FieldKind,
    /// Typed text (reference and numbers).
    pub text: String,
    /// The answer of a yes/no field; `None` until answered.
    pub answer: Option<bool>,
    /// The chosen level of a choice field (index into its `answers`); `None` until chosen.
    pub level: Option<usize>,
    /// Cursor position in `text`, in characters.
    pub cursor: usize,
}

impl std::fmt::Debug for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Field")
            .field("label", &self.label())
            .finish_non_exhaustive()
    }
}

impl Drop for Field {
    fn drop(&mut self) {
        self.text.zeroize();
    }
}

impl Field {
    fn empty(kind: FieldKind) -> Self {
        Field {
            kind,
            text: String::new(),
            answer: None,
            level: None,
            cursor: 0,
        }
    }

    /// Short label shown left of the field (the feature name in words).
    pub fn label(&self) -> String {
        match &self.kind {
            FieldKind::PatientRef => "Patient reference".into(),
            FieldKind::Number(spec) | FieldKind::YesNo(spec) | FieldKind::Choice(spec) => {
                if let Some(label) = clinic_column_label(&spec.name) {
                    return label.into();
                }
                let words = spec.name.replace('_', " ");
                let mut chars = words.chars();
                match chars.next() {
                    Some(first) => first.to_uppercase().chain(chars).collect(),
                    None => words,
                }
            }
        }
    }

    /// The model's full description of the field.
    pub fn description(&self) -> String {
        match &self.kind {
            FieldKind::PatientRef => {
                "Pseudonymous patient reference, stored with the result".into()
            }
            FieldKind::Number(spec) | FieldKind::YesNo(spec) | FieldKind::Choice(spec) => {
                spec.description.clone()
            }
        }
    }

    /// Unit and allowed range shown right of the field.
    pub fn hint(&self) -> String {
        match &self.kind {
            FieldKind::PatientRef => "pseudonym, no names".into(),
            // Compact: the focused field's detail line lists every answer.
            FieldKind::Number(spec) if spec.kind == FeatureKind::Ordinal => format!(
                "{}–{}: {} … {}",
                spec.plausible_min,
                spec.plausible_max,
                spec.answers.first().map_or("", String::as_str),
                spec.answers.last().map_or("", String::as_str)
            ),
            FieldKind::Number(spec) => format!(
                "{}–{} {}",
                spec.plausible_min, spec.plausible_max, spec.unit
            ),
            FieldKind::YesNo(_) => "Space / y / n".into(),
            FieldKind::Choice(spec) => format!("{} · Space", spec.answers.join(" | ")),
        }
    }

    fn byte_at(&self, chars: usize) -> usize {
        self.text
            .char_indices()
            .nth(chars)
            .map_or(self.text.len(), |(i, _)| i)
    }

    fn insert(&mut self, c: char) {
        let at = self.byte_at(self.cursor);
        self.text.insert(at, c);
        self.cursor += 1;
    }

    fn remove_at_cursor(&mut self) {
        if self.cursor < self.text.chars().count() {
            let at = self.byte_at(self.cursor);
            self.text.remove(at);
        }
    }

    /// The text with a cursor mark (`▏`) at the cursor, for the focused field.
    pub fn display_with_cursor(&self) -> String {
        let at = self.byte_at(self.cursor);
        format!("{}▏{}", &self.text[..at], &self.text[at..])
    }

    /// What the field shows as its value.
    pub fn display_value(&self) -> String {
        match (&self.kind, self.answer) {
            (FieldKind::YesNo(_), Some(true)) => "[x] yes".into(),
            (FieldKind::YesNo(_), Some(false)) => "[ ] no".into(),
            (FieldKind::YesNo(_), None) => "[?]".into(),
            (FieldKind::Choice(spec), _) => self
                .level
                .and_then(|i| spec.answers.get(i))
                .map_or("[?]".into(), |l| format!("‹{l}›")),
            _ => self.text.clone(),
        }
    }

    /// Why the current content is not acceptable, if it is not. An empty field is only
    /// reported when `require_filled` (after the first submit attempt), so a fresh form is
    /// not a wall of red.
    pub fn problem(&self, require_filled: bool) -> Option<Problem> {
        let problem = |short: &str, full: String| {
            Some(Problem {
                short: short.to_string(),
                full,
            })
        };
        match &self.kind {
            FieldKind::PatientRef => {
                if self.text.trim().is_empty() && !require_filled {
                    return None;
                }
                PatientRef::parse(&self.text)
                    .err()
                    .and_then(|reason| problem("invalid reference", reason.to_string()))
            }
            FieldKind::YesNo(_) => {
                if self.answer.is_none() && require_filled {
                    problem("required: y or n", "required: answer yes or no".into())
                } else {
                    None
                }
            }
            FieldKind::Choice(spec) => {
                if self.level.is_none() && require_filled {
                    problem(
                        "required: choose",
                        format!("required: one of {}", spec.answers.join(", ")),
                    )
                } else {
                    None
                }
            }
            FieldKind::Number(spec) => {
                let text = self.text.trim();
                let range = spec.allowed_range();
                if text.is_empty() {
                    return if require_filled {
                        problem("required", format!("required (expected {range})"))
                    } else {
                        None
                    };
                }
                match text.parse::<f64>() {
                    Err(_) => problem("not a number", format!("not a number (expected {range})")),
                    Ok(v) => check_value(spec, v).err().and_then(|e| {
                        let short = match e {
                            PatientError::NotFinite { .. } => "not a number",
                            PatientError::NotAnAnswer { .. } => "not an answer",
                            _ => "out of range",
                        };
                        problem(short, e.to_string())
                    }),
                }
            }
        }
    }
}

/// A field's problem: a short form for the form's column, the full sentence for the
/// focused field's detail line. Neither repeats the typed value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// A few words.
    pub short: String,
    /// The whole message, with the allowed range.
    pub full: String,
}

/// The yes/no field that decides eligibility before anything else.
fn known_cvd_spec() -> FeatureSpec {
    FeatureSpec {
        name: KNOWN_CVD.into(),
        unit: String::new(),
        kind: FeatureKind::Binary,
        description: clinic_column_description(KNOWN_CVD)
            .unwrap_or_default()
            .into(),
        plausible_min: 0.0,
        plausible_max: 1.0,
        clamp_min: 0.0,
        clamp_max: 1.0,
        bits: 1,
        answers: Vec::new(),
        counts_from: None,
    }
}

/// The whole form.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryForm {
    /// Fields, reference first, then features in model order.
    pub fields: Vec<Field>,
    /// Index of the focused field.
    pub focus: usize,
    /// Set by the first submit attempt: empty fields are then reported too.
    pub tried_submit: bool,
}

impl EntryForm {
    /// An empty form for `model`: the reference, known CVD when the model's population
    /// excludes it (asked first: it decides eligibility), then the features in model order.
    pub fn new(model: &Model) -> Self {
        let mut fields = vec![Field::empty(FieldKind::PatientRef)];
        if model.population().is_some_and(|p| p.excludes_known_cvd()) {
            fields.push(Field::empty(FieldKind::YesNo(known_cvd_spec())));
        }
        fields.extend(model.features().iter().map(|spec| {
            Field::empty(match spec.kind {
                FeatureKind::Binary => FieldKind::YesNo(spec.clone()),
                FeatureKind::Continuous | FeatureKind::Ordinal => FieldKind::Number(spec.clone()),
            })
        }));
        EntryForm {
            fields,
            focus: 0,
            tried_submit: false,
        }
    }

    /// An empty form for published equations screened together: the reference, known CVD
    /// (asked first: it decides eligibility), then every input of `models` once, in order,
    /// with its unit and published range.
    pub fn for_equations(models: &[Arc<EquationModel>]) -> Self {
        let mut fields = vec![
            Field::empty(FieldKind::PatientRef),
            Field::empty(FieldKind::YesNo(known_cvd_spec())),
        ];
        let mut seen: Vec<String> = Vec::new();
        for spec in models.iter().flat_map(|m| m.input_features()) {
            if seen.contains(&spec.name) {
                continue;
            }
            seen.push(spec.name.clone());
            fields.push(Field::empty(match spec.kind {
                FeatureKind::Binary => FieldKind::YesNo(spec),
                FeatureKind::Ordinal => FieldKind::Choice(spec),
                FeatureKind::Continuous => FieldKind::Number(spec),
            }));
        }
        EntryForm {
            fields,
            focus: 0,
            tried_submit: false,
        }
    }

    /// The focused field.
    pub fn focused(&self) -> &Field {
        &self.fields[self.focus]
    }

    /// Whether the focused field takes typed text (so letters are input, not shortcuts).
    pub fn focus_takes_text(&self) -> bool {
        !matches!(
            self.focused().kind,
            FieldKind::YesNo(_) | FieldKind::Choice(_)
        )
    }

    /// Tab.
    pub fn next(&mut self) {
        self.focus = (self.focus + 1) % self.fields.len();
    }

    /// Shift-Tab.
    pub fn previous(&mut self) {
        self.focus = (self.focus + self.fields.len() - 1) % self.fields.len();
    }

    /// A typed character, inserted at the cursor; characters a field cannot hold are ignored.
    pub fn type_char(&mut self, c: char) {
        let field = &mut self.fields[self.focus];
        match &field.kind {
            FieldKind::PatientRef => {
                if !c.is_control() && field.text.chars().count() < 64 {
                    field.insert(c);
                }
            }
            FieldKind::Number(_) => {
                if (c.is_ascii_digit() || matches!(c, '.' | '-' | 'e' | 'E'))
                    && field.text.len() < MAX_NUMBER_CHARS
                {
                    field.insert(c);
                }
            }
            FieldKind::YesNo(_) => match c {
                ' ' => field.answer = Some(!field.answer.unwrap_or(false)),
                'y' | 'Y' | '1' => field.answer = Some(true),
                'n' | 'N' | '0' => field.answer = Some(false),
                _ => {}
            },
            FieldKind::Choice(spec) => {
                let count = spec.answers.len();
                if c == ' ' && count > 0 {
                    field.level = Some(field.level.map_or(0, |i| (i + 1) % count));
                } else if let Some(i) = spec
                    .answers
                    .iter()
                    .position(|l| l.chars().next().is_some_and(|f| f.eq_ignore_ascii_case(&c)))
                {
                    field.level = Some(i);
                }
            }
        }
    }

    /// Backspace: the character before the cursor (a yes/no field becomes unanswered).
    pub fn backspace(&mut self) {
        let field = &mut self.fields[self.focus];
        match field.kind {
            FieldKind::YesNo(_) => field.answer = None,
            FieldKind::Choice(_) => field.level = None,
            _ => {
                if field.cursor > 0 {
                    field.cursor -= 1;
                    field.remove_at_cursor();
                }
            }
        }
    }

    /// Delete: the character under the cursor.
    pub fn delete(&mut self) {
        self.fields[self.focus].remove_at_cursor();
    }

    /// Move the cursor by `step` characters (negative: left), within the text.
    pub fn move_cursor(&mut self, step: isize) {
        let field = &mut self.fields[self.focus];
        let len = field.text.chars().count();
        field.cursor = field.cursor.saturating_add_signed(step).min(len);
    }

    /// Cursor to the start (`false`) or the end (`true`) of the text.
    pub fn cursor_to(&mut self, end: bool) {
        let field = &mut self.fields[self.focus];
        field.cursor = if end { field.text.chars().count() } else { 0 };
    }

    /// Problems of every field, in order (`None` where the field is fine).
    pub fn problems(&self) -> Vec<Option<Problem>> {
        self.fields
            .iter()
            .map(|f| f.problem(self.tried_submit))
            .collect()
    }

    /// Validate everything. On success the reference and the intake's decision (validated
    /// features, or why the patient is outside the model's population); otherwise focus
    /// moves to the first bad field and its index is returned.
    pub fn submit(&mut self, model: &Model) -> Result<(PatientRef, Screenable), usize> {
        self.tried_submit = true;
        // Known CVD decides alone (as in a batch): the other values need not be filled then.
        let known_cvd = |f: &Field| matches!(&f.kind, FieldKind::YesNo(s) if s.name == KNOWN_CVD);
        let decided = self
            .fields
            .iter()
            .any(|f| known_cvd(f) && f.answer == Some(true));
        let blocking = self.problems().iter().enumerate().position(|(i, p)| {
            let f = &self.fields[i];
            p.is_some() && (!decided || matches!(f.kind, FieldKind::PatientRef) || known_cvd(f))
        });
        if let Some(bad) = blocking {
            self.focus = bad;
            return Err(bad);
        }
        let mut patient_ref = None;
        let mut given = Vec::with_capacity(self.fields.len());
        for (i, field) in self.fields.iter().enumerate() {
            let (name, value) = match &field.kind {
                FieldKind::PatientRef => {
                    patient_ref = Some(PatientRef::parse(&field.text).map_err(|_| i)?);
                    continue;
                }
                FieldKind::YesNo(spec) => (
                    &spec.name,
                    if field.answer == Some(true) { 1.0 } else { 0.0 },
                ),
                FieldKind::Number(spec) => (
                    &spec.name,
                    field.text.trim().parse::<f64>().unwrap_or(f64::NAN),
                ),
                // Not in a cvd-lr form.
                FieldKind::Choice(_) => return Err(i),
            };
            given.push(GivenField {
                position: i,
                name: name.clone(),
                value,
            });
        }
        match intake_schema1(model.features(), model.population(), &given) {
            Ok(decision) => Ok((patient_ref.ok_or(0usize)?, decision)),
            Err(e) => {
                // Unreachable when every field validated; keep the form usable regardless.
                let bad = self
                    .fields
                    .iter()
                    .position(|f| match &f.kind {
                        FieldKind::YesNo(spec) | FieldKind::Number(spec) => {
                            Some(spec.name.as_str()) == e.field()
                        }
                        _ => false,
                    })
                    .unwrap_or(0);
                self.focus = bad;
                Err(bad)
            }
        }
    }

    /// Validate everything for a published equation. On success the reference and the
    /// values by input name (yes/no as 0/1, a choice as its level) for the core's intake,
    /// which decides eligibility and checks the ranges again; otherwise focus moves to the
    /// first bad field and its index is returned.
    pub fn submit_values(&mut self) -> Result<(PatientRef, BTreeMap<String, InputValue>), usize> {
        self.tried_submit = true;
        if let Some(bad) = self.problems().iter().position(Option::is_some) {
            self.focus = bad;
            return Err(bad);
        }
        let mut patient_ref = None;
        let mut values = BTreeMap::new();
        for (i, field) in self.fields.iter().enumerate() {
            match &field.kind {
                FieldKind::PatientRef => {
                    patient_ref = Some(PatientRef::parse(&field.text).map_err(|_| i)?)
                }
                FieldKind::YesNo(spec) => {
                    let v = if field.answer == Some(true) { 1.0 } else { 0.0 };
                    values.insert(spec.name.clone(), InputValue::Number(v));
                }
                FieldKind::Number(spec) => {
                    let v = field.text.trim().parse::<f64>().map_err(|_| i)?;
                    values.insert(spec.name.clone(), InputValue::Number(v));
                }
                FieldKind::Choice(spec) => {
                    let level = field.level.and_then(|l| spec.answers.get(l)).ok_or(i)?;
                    values.insert(spec.name.clone(), InputValue::Level(level.clone()));
                }
            }
        }
        Ok((patient_ref.ok_or(0usize)?, values))
    }

    /// Empty every field for the next patient.
    pub fn clear(&mut self) {
        for field in &mut self.fields {
            field.text.zeroize();
            field.answer = None;
            field.level = None;
            field.cursor = 0;
        }
        self.focus = 0;
        self.tried_submit = false;
    }
}
