//! One patient given as a JSON object, read by one rule set wherever such a patient comes
//! in: a row of a JSON Lines or JSON array batch ([`crate::BatchReader`]) and the one
//! patient of `pulsecure screen --json` (cvd-lr and the published equations alike).
//!
//! The rule:
//!
//! - **The reference** is `patient_id`, or its alias `patient_ref` (the name of the
//!   `--patient-ref` flag): a string, or an integer (read as its decimal digits: `1042` is
//!   the reference `1042`), then checked as a pseudonym. A number with a fraction or an
//!   exponent (`1.5`, `1e3`) is refused: it would be stored as a text the clinic's register
//!   does not hold. Both keys, or one of them twice, are refused: which is meant is
//!   ambiguous. Whether the reference may be absent is the caller's: a batch row without
//!   one is refused, `screen --json` generates one (as without `--patient-ref`).
//! - **Every other key** is a field, numbered by its position among the object's keys in the
//!   order written (the reference counts). A key the model does not read is reported as
//!   `#N`, never by its text: it may be patient data typed in the wrong place.
//! - **A value** is a number; `true`/`false` (1/0, for yes/no fields); a string, which is a
//!   level such as `female` and is read by the published equations only (a cvd-lr field is
//!   a number); or `null`, which is absent (then reported as missing, with its range). An
//!   array or an object is refused.
//! - The reference is checked first, then the fields in the order written; the first key at
//!   fault is the one reported, a known key by its name, an unknown one by its position.
//!   Nothing reported ever holds a value.

use pulsecure_core::domain::equation::InputValue;
use pulsecure_core::{GivenField, Model, PatientError, PatientRef};

use crate::row::{model_columns, ColumnSpec, RowError};
use crate::{JsonRow, PATIENT_ID};

/// The alias of [`PATIENT_ID`] in a JSON patient.
pub const PATIENT_REF_ALIAS: &str = "patient_ref";

/// One value of a JSON patient, as given (checked against a model later).
#[derive(Clone, PartialEq)]
pub enum JsonValue {
    /// A number, or `true`/`false` as 1/0.
    Number(f64),
    /// A string: a level such as `female`.
    Level(String),
    /// `null`: no value.
    Absent,
    /// An array or an object: never a field's value.
    Composite,
}

/// One key of a JSON patient besides the reference. `Debug` is redacted: the name may be
/// anything and the value is patient data.
#[derive(Clone, PartialEq)]
pub struct JsonField {
    /// 1-based position among the object's keys, in the order written.
    pub position: usize,
    /// The key as given (shown only once it is known to be a model's field).
    pub name: String,
    /// The value.
    pub value: JsonValue,
}

impl std::fmt::Debug for JsonField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonField")
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

/// A JSON object read as one patient (see the module's rule): its reference, if it has one,
/// and its other keys in the order written.
#[derive(Debug)]
pub struct JsonPatient {
    /// 1-based row number errors carry (1 for a single patient).
    pub row: usize,
    /// The checked reference, when the object carries one.
    pub patient_ref: Option<PatientRef>,
    /// Every other key, in the order written.
    pub fields: Vec<JsonField>,
}

impl JsonPatient {
    /// Read `value` (row `row` of its input) as a patient: an object, with at most one
    /// reference, which must be a string or an integer and a pseudonym. The fields are
    /// checked against a model by [`JsonPatient::model_fields`] or
    /// [`JsonPatient::column_values`].
    pub fn read(row: usize, value: JsonRow) -> Result<Self, RowError> {
        let JsonRow::Object(entries) = value else {
            return Err(RowError {
                row,
                patient_ref: None,
                column: None,
                reason: "expected a JSON object".into(),
            });
        };
        let refused = |column: &str, reason: String| RowError {
            row,
            patient_ref: None,
            column: Some(column.to_string()),
            reason,
        };
        let mut patient_ref = None;
        let mut fields = Vec::with_capacity(entries.len());
        let mut references = 0;
        for (i, (name, value)) in entries.into_iter().enumerate() {
            if name == PATIENT_ID || name == PATIENT_REF_ALIAS {
                references += 1;
                if references > 1 {
                    return Err(refused(
                        PATIENT_ID,
                        format!(
                            "given more than once ({PATIENT_ID}, or its alias {PATIENT_REF_ALIAS})"
                        ),
                    ));
                }
                let text = match &value {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
                    _ => {
                        return Err(refused(&name, "expected a string or an integer".into()));
                    }
                };
                match PatientRef::parse(&text) {
                    Ok(r) => patient_ref = Some(r),
                    Err(e) => return Err(refused(&name, e.to_string())),
                }
                continue;
            }
            let value = match value {
                serde_json::Value::Number(n) => match n.as_f64() {
                    Some(x) => JsonValue::Number(x),
                    None => JsonValue::Composite,
                },
                serde_json::Value::Bool(b) => JsonValue::Number(if b { 1.0 } else { 0.0 }),
                serde_json::Value::String(text) => JsonValue::Level(text),
                serde_json::Value::Null => JsonValue::Absent,
                serde_json::Value::Array(_) | serde_json::Value::Object(_) => JsonValue::Composite,
            };
            fields.push(JsonField {
                position: i + 1,
                name,
                value,
            });
        }
        Ok(JsonPatient {
            row,
            patient_ref,
            fields,
        })
    }

    fn error(&self, column: String, reason: String) -> RowError {
        RowError {
            row: self.row,
            patient_ref: self.patient_ref.clone(),
            column: Some(column),
            reason,
        }
    }

    /// The fields as a schema-1 model (cvd-lr) reads them, in the order written: a key that
    /// is neither a feature nor a field of its population rule is refused by position, a
    /// value that is not a number (or true/false) by the key's name; `null` is left out
    /// (reported as missing by the intake). The values themselves are checked by the intake.
    pub fn model_fields(&self, model: &Model) -> Result<Vec<GivenField>, RowError> {
        let names = model_columns(model);
        let mut given = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            if !names.contains(&field.name.as_str()) {
                let e = PatientError::Unknown {
                    position: field.position,
                    expected: names.join(", "),
                };
                return Err(RowError::patient(self.row, self.patient_ref.clone(), &e));
            }
            match field.value {
                JsonValue::Number(value) => given.push(GivenField {
                    position: field.position,
                    name: field.name.clone(),
                    value,
                }),
                JsonValue::Absent => {}
                JsonValue::Level(_) | JsonValue::Composite => {
                    return Err(self.error(
                        field.name.clone(),
                        "expected a number (or true/false for yes/no fields)".into(),
                    ))
                }
            }
        }
        Ok(given)
    }

    /// The fields as named columns (a published equation's inputs) read them, in the order
    /// written: a key not in `columns` is refused by position, a key given twice or a value
    /// that is an array or an object by the key's name; numbers and true/false as numbers,
    /// strings as levels, `null` left out.
    pub fn column_values(
        &self,
        columns: &ColumnSpec,
    ) -> Result<Vec<(String, InputValue)>, RowError> {
        let mut cells: Vec<(String, InputValue)> = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            if !columns.accepted.contains(&field.name) {
                return Err(self.error(
                    format!("#{}", field.position),
                    format!(
                        "field #{} is not a column of this model (expected one of: {})",
                        field.position,
                        columns.accepted.join(", ")
                    ),
                ));
            }
            if cells.iter().any(|(k, _)| *k == field.name) {
                return Err(self.error(field.name.clone(), "given more than once".into()));
            }
            let value = match &field.value {
                JsonValue::Number(x) => InputValue::Number(*x),
                JsonValue::Level(text) => InputValue::Level(text.clone()),
                JsonValue::Absent => continue,
                JsonValue::Composite => {
                    return Err(self.error(
                        field.name.clone(),
                        "expected a number, true/false or a level such as female".into(),
                    ))
                }
            };
            cells.push((field.name.clone(), value));
        }
        Ok(cells)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<JsonPatient, RowError> {
        JsonPatient::read(7, serde_json::from_str(text).expect("JSON"))
    }

    #[test]
    fn the_reference_is_patient_id_or_its_alias_a_string_or_an_integer() {
        for (text, expected) in [
            (r#"{"patient_id": "A-1", "age": 50}"#, "A-1"),
            (r#"{"age": 50, "patient_ref": "A-2"}"#, "A-2"),
            (r#"{"patient_id": 1042}"#, "1042"),
            (
                r#"{"patient_ref": 18446744073709551615}"#,
                "18446744073709551615",
            ),
        ] {
            let patient = read(text).expect(text);
            assert_eq!(
                patient.patient_ref.as_ref().map(PatientRef::as_str),
                Some(expected)
            );
        }
        let patient = read(r#"{"age": 50}"#).expect("no reference");
        assert!(patient.patient_ref.is_none());
        assert_eq!(patient.fields[0].position, 1);
    }

    #[test]
    fn a_reference_given_twice_or_not_as_text_or_integer_is_refused_without_its_value() {
        for (text, column, reason) in [
            (
                r#"{"patient_id": "A", "patient_ref": "A"}"#,
                "patient_id",
                "given more than once",
            ),
            (
                r#"{"patient_id": "A", "patient_id": "B"}"#,
                "patient_id",
                "given more than once",
            ),
            (
                r#"{"patient_id": 1.5}"#,
                "patient_id",
                "a string or an integer",
            ),
            (
                r#"{"patient_ref": 1e3}"#,
                "patient_ref",
                "a string or an integer",
            ),
            (
                r#"{"patient_id": true}"#,
                "patient_id",
                "a string or an integer",
            ),
            (
                r#"{"patient_id": ["SECRET"]}"#,
                "patient_id",
                "a string or an integer",
            ),
            (r#"{"patient_id": "  "}"#, "patient_id", "empty"),
        ] {
            let e = read(text).expect_err(text);
            assert_eq!((e.row, e.column.as_deref()), (7, Some(column)), "{text}");
            assert!(e.reason.contains(reason), "{text}: {}", e.reason);
            assert!(!e.reason.contains("SECRET"));
        }
        let e = read("[1]").expect_err("not an object");
        assert_eq!(e.column, None);
        assert_eq!(e.reason, "expected a JSON object");
    }

    #[test]
    fn fields_are_numbered_in_the_order_written_with_their_values_as_given() {
        let patient =
            read(r#"{"b": true, "patient_id": "R", "a": "female", "c": null, "d": {"x": 1}}"#)
                .expect("reads");
        let fields: Vec<(usize, &str, &JsonValue)> = patient
            .fields
            .iter()
            .map(|f| (f.position, f.name.as_str(), &f.value))
            .collect();
        assert!(
            fields
                == [
                    (1, "b", &JsonValue::Number(1.0)),
                    (3, "a", &JsonValue::Level("female".into())),
                    (4, "c", &JsonValue::Absent),
                    (5, "d", &JsonValue::Composite),
                ]
        );
    }
}
