//! One resource -> the facts it gives (see [`Fact`]), following the mapping table: status
//! filters, the look-back window, codes and unit conversions. Errors name the element and
//! what was expected, never a value.

use std::collections::HashMap;

use pulsecure_core::civil_date::{days_from_civil, parse_ymd};

use crate::fact::{Fact, MedicationKind};
use crate::map::{system, MappingTable};
use crate::resource::{Extension, MedicationUse, Observation, Quantity, Reference, Resource};

/// The screening date and window facts are read for.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// The screening date, days since 1970-01-01 (ages are taken on it).
    pub as_of: i64,
    /// The oldest observation date that counts.
    pub start: i64,
}

impl Window {
    /// `lookback_years` back from `as_of` (`(y, m, d)`), same day of the year (28 Feb for a
    /// 29 Feb that does not exist then).
    pub fn new(as_of: (i64, i64, i64), lookback_years: u32) -> Self {
        let (y, m, d) = as_of;
        let start_year = y - i64::from(lookback_years);
        let start_day =
            if (m, d) == (2, 29) && parse_ymd(&format!("{start_year:04}-02-29")).is_none() {
                28
            } else {
                d
            };
        Window {
            as_of: days_from_civil(y, m, d),
            start: days_from_civil(start_year, m, start_day),
        }
    }

    fn contains(&self, day: i64) -> bool {
        (self.start..=self.as_of).contains(&day)
    }
}

/// The first day a FHIR date or date-time may mean (`2025` -> 2025-01-01, `2025-03` ->
/// 2025-03-01, a full date as itself), for "on or before / after the screening date" tests.
pub fn earliest_day(text: &str) -> Option<i64> {
    match text.len() {
        4 => day_of(&format!("{text}-01-01")),
        7 => day_of(&format!("{text}-01")),
        _ => day_of(text),
    }
}

/// Days since 1970-01-01 of a FHIR date or date-time's date part (`YYYY-MM-DD...`, as
/// written: a time zone does not move it).
pub fn day_of(text: &str) -> Option<i64> {
    let (y, m, d) = parse_ymd(text.get(..10)?)?;
    if text.len() > 10 && !text[10..].starts_with('T') {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Turns resources into facts.
pub struct Extractor<'a> {
    table: &'a MappingTable,
    window: Window,
    /// A bundle's `fullUrl` of each patient -> its id (references by `urn:uuid:`).
    full_urls: Option<&'a HashMap<String, String>>,
}

impl<'a> Extractor<'a> {
    /// An extractor for `window`; `full_urls` resolves a bundle's own references.
    pub fn new(
        table: &'a MappingTable,
        window: Window,
        full_urls: Option<&'a HashMap<String, String>>,
    ) -> Self {
        Extractor {
            table,
            window,
            full_urls,
        }
    }

    /// The facts of one resource (none for a type or status that does not count), or why
    /// the resource cannot be read. `fallback_id` names a patient without `id` (a bundle's
    /// `fullUrl`); `patients` counts the patients read so far (their ordinals).
    pub fn facts(
        &self,
        resource: Resource,
        fallback_id: Option<&str>,
        patients: &mut u64,
    ) -> Result<Vec<Fact>, String> {
        match resource {
            Resource::Patient(p) => {
                let Some(id) = p.id.or_else(|| fallback_id.map(str::to_string)) else {
                    return Err("a Patient without an id".into());
                };
                *patients += 1;
                // Any death date that may fall on or before the screening date (a partial
                // date by its first day).
                let deceased = p.deceased_boolean == Some(true)
                    || p.deceased_date_time
                        .as_deref()
                        .and_then(earliest_day)
                        .is_some_and(|day| day <= self.window.as_of);
                Ok(vec![Fact::Patient {
                    id,
                    ordinal: *patients,
                    birth: p
                        .birth_date
                        .as_deref()
                        .and_then(|b| parse_ymd(b).map(|(y, m, d)| days_from_civil(y, m, d))),
                    race: self.race(&p.extension),
                    gender: p.gender,
                    deceased,
                }])
            }
            Resource::Observation(o) => self.observation(*o),
            Resource::Condition(c) => {
                let ignored = c.verification_status.as_ref().and_then(|v| v.first_code());
                if ignored.is_some_and(|v| {
                    self.table
                        .condition_ignored_verification
                        .iter()
                        .any(|s| s == v)
                }) {
                    return Ok(Vec::new());
                }
                let mut sets: Vec<usize> = c
                    .code
                    .pairs()
                    .flat_map(|(s, code)| self.table.conditions_of(s, code))
                    .collect();
                if sets.is_empty() {
                    return Ok(Vec::new());
                }
                sets.sort_unstable();
                sets.dedup();
                // Begun or recorded after the screening date: not known on it.
                let after = |d: Option<&str>| {
                    d.and_then(earliest_day)
                        .is_some_and(|day| day > self.window.as_of)
                };
                if after(c.onset_date_time.as_deref()) || after(c.recorded_date.as_deref()) {
                    return Ok(Vec::new());
                }
                let subject = self.subject(c.subject.as_ref())?;
                let status = c
                    .clinical_status
                    .as_ref()
                    .and_then(|s| s.first_code())
                    .unwrap_or(self.table.condition_without_clinical_status.as_str());
                let active = self
                    .table
                    .condition_active_statuses
                    .iter()
                    .any(|a| a == status);
                let id = c.id.unwrap_or_default();
                Ok(sets
                    .into_iter()
                    .map(|set| Fact::Condition {
                        subject: subject.clone(),
                        set: set as u8,
                        active,
                        id: id.clone(),
                    })
                    .collect())
            }
            Resource::MedicationRequest(m) => self.medication(m, MedicationKind::Request),
            Resource::MedicationStatement(m) => self.medication(m, MedicationKind::Statement),
            Resource::Other => Ok(Vec::new()),
        }
    }

    /// The race level of a patient's US Core race extension (its OMB category), if any.
    fn race(&self, extensions: &[Extension]) -> Option<String> {
        let race = &self.table.race;
        let ext = extensions
            .iter()
            .find(|e| e.url.as_deref() == Some(race.extension.as_str()))?;
        let code = ext
            .extension
            .iter()
            .filter(|e| e.url.as_deref() == Some(race.category_url.as_str()))
            .find_map(|e| e.value_coding.as_ref()?.code.clone())?;
        Some(
            race.levels
                .get(code.trim())
                .cloned()
                .unwrap_or_else(|| race.other_level.clone()),
        )
    }

    fn medication(&self, m: MedicationUse, kind: MedicationKind) -> Result<Vec<Fact>, String> {
        let ordered = kind == MedicationKind::Statement
            || m.intent
                .as_deref()
                .is_none_or(|i| self.table.medication_request_intents.iter().any(|a| a == i));
        // An order not to give the drug, or one written after the screening date, is no
        // treatment on that date.
        let written_later = m
            .authored_on
            .as_deref()
            .and_then(earliest_day)
            .is_some_and(|day| day > self.window.as_of);
        let counts = ordered
            && m.do_not_perform != Some(true)
            && !written_later
            && m.status
                .as_deref()
                .is_some_and(|s| self.table.medication_statuses.iter().any(|a| a == s));
        let Some(concept) = m.medication_codeable_concept.filter(|_| counts) else {
            return Ok(Vec::new());
        };
        let mut classes: Vec<usize> = concept
            .pairs()
            .flat_map(|(s, code)| self.table.medications_of(s, code))
            .collect();
        if classes.is_empty() {
            return Ok(Vec::new());
        }
        classes.sort_unstable();
        classes.dedup();
        let subject = self.subject(m.subject.as_ref())?;
        let id = m.id.unwrap_or_default();
        Ok(classes
            .into_iter()
            .map(|class| Fact::Medication {
                subject: subject.clone(),
                class: class as u8,
                kind,
                id: id.clone(),
            })
            .collect())
    }

    fn observation(&self, o: Observation) -> Result<Vec<Fact>, String> {
        let t = self.table;
        if !o
            .status
            .as_deref()
            .is_some_and(|s| t.observation_statuses.iter().any(|a| a == s))
        {
            return Ok(Vec::new());
        }
        let codes: Vec<&str> = o.code.codes(system::LOINC).collect();
        let is_smoking = codes.contains(&t.smoking.loinc.as_str());
        let measured: Vec<(usize, &str)> = codes
            .iter()
            .filter_map(|c| t.observation(c).map(|(i, _)| (i, *c)))
            .collect();
        let mut panels: Vec<(usize, &str, &Quantity)> = Vec::new();
        for comp in &o.component {
            let Some(q) = comp.value_quantity.as_ref() else {
                continue;
            };
            for c in comp.code.codes(system::LOINC) {
                if let Some((i, _)) = codes.iter().find_map(|panel| t.component(panel, c)) {
                    panels.push((i, c, q));
                }
            }
        }
        if !is_smoking && measured.is_empty() && panels.is_empty() {
            return Ok(Vec::new());
        }
        let Some(day) = o.when().and_then(day_of) else {
            // Without a date the window cannot be applied: the observation does not count.
            return Ok(Vec::new());
        };
        if !self.window.contains(day) {
            return Ok(Vec::new());
        }
        let subject = self.subject(o.subject.as_ref())?;
        let id = o.id.clone().unwrap_or_default();
        let mut facts = Vec::new();
        if is_smoking {
            let answer = o.value_codeable_concept.as_ref();
            let current = answer.and_then(|a| {
                a.codes(system::SNOMED).find_map(|code| {
                    if t.smoking.snomed_current.iter().any(|c| c == code) {
                        Some(true)
                    } else if t.smoking.snomed_not_current.iter().any(|c| c == code) {
                        Some(false)
                    } else {
                        None
                    }
                })
            });
            // An answer outside the table ("unknown if ever smoked") is kept as such: if it
            // is the most recent, the patient's smoking status is unknown.
            facts.push(Fact::Smoking {
                subject: subject.clone(),
                day,
                current,
                id: id.clone(),
            });
        }
        let direct = measured
            .into_iter()
            .filter_map(|(slot, loinc)| o.value_quantity.as_ref().map(|q| (slot, loinc, q)));
        for (slot, loinc, q) in direct.chain(panels) {
            let map = &t.observations[slot];
            let (value, blocked) = match measurement(q, &map.units) {
                Ok(value) => (Some(value), None),
                Err(Unusable::NoValue) => continue,
                Err(Unusable::Blocked(reason)) => (None, Some(reason)),
            };
            facts.push(Fact::Measure {
                subject: subject.clone(),
                slot: slot as u8,
                day,
                value,
                blocked,
                loinc: loinc.to_string(),
                id: id.clone(),
            });
        }
        Ok(facts)
    }

    /// The patient id a `subject` reference names (also for a resource that could not be
    /// read whole).
    pub fn subject_of(&self, reference: Option<&Reference>) -> Result<String, String> {
        self.subject(reference)
    }

    /// The patient id a `subject` reference names.
    fn subject(&self, reference: Option<&Reference>) -> Result<String, String> {
        let text = reference
            .and_then(|r| r.reference.as_deref())
            .ok_or("no subject reference")?;
        if text.starts_with("urn:") {
            return self
                .full_urls
                .and_then(|urls| urls.get(text))
                .cloned()
                .ok_or_else(|| "subject does not reference a Patient of this bundle".into());
        }
        let text = text.split("/_history/").next().unwrap_or(text);
        let mut parts = text.rsplit('/');
        match (parts.next(), parts.next()) {
            (Some(id), Some("Patient")) if !id.is_empty() => Ok(id.to_string()),
            _ => Err("subject is not a reference to a Patient (Patient/<id>)".into()),
        }
    }
}

/// Why a quantity gives no value.
enum Unusable {
    /// No value at all (e.g. a `dataAbsentReason`): the observation does not count.
    NoValue,
    /// A value that cannot be used: blocks the measurement if it is the most recent.
    Blocked(String),
}

/// The value of `q` in the column's unit.
fn measurement(
    q: &Quantity,
    units: &std::collections::BTreeMap<String, f64>,
) -> Result<f64, Unusable> {
    let raw = match &q.value {
        None | Some(serde_json::Value::Null) => return Err(Unusable::NoValue),
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(_) => None,
    };
    let Some(raw) = raw else {
        return Err(Unusable::Blocked("its value is not a number".into()));
    };
    if q.comparator.is_some() {
        return Err(Unusable::Blocked(
            "its value is a bound (a comparator such as > or <), not a measurement".into(),
        ));
    }
    let unit = q.unit_key().map(str::trim);
    let Some(factor) = unit.and_then(|u| units.get(u)) else {
        return Err(Unusable::Blocked(match unit {
            Some(u) => format!(
                "its unit {} is not one the mapping table converts (accepted: {})",
                safe_unit(u),
                units
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => "it has no unit".into(),
        }));
    };
    let value = raw * factor;
    if !value.is_finite() {
        return Err(Unusable::Blocked("its value is not a finite number".into()));
    }
    Ok(value)
}

/// A unit as messages may show it: at most 16 characters of UCUM-like text without digits
/// or spaces (`mg%`, `g/L`, `mmol/l`), else a placeholder — a unit field is free text and
/// may hold anything, a value (`5.17 mmol/L`) or a line break included, and is never echoed
/// then. The accepted units are listed beside it.
pub fn safe_unit(unit: &str) -> String {
    let plausible = !unit.is_empty()
        && unit.chars().count() <= 16
        && unit
            .chars()
            .all(|c| c.is_ascii_alphabetic() || "/[]{}.%*^_-µμ".contains(c));
    if plausible {
        format!("`{unit}`")
    } else {
        "(not shown: not a plain unit)".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::table;

    fn extractor() -> Extractor<'static> {
        Extractor::new(table(), Window::new((2026, 6, 30), 2), None)
    }

    fn facts(json: &str) -> Result<Vec<Fact>, String> {
        let r: Resource = serde_json::from_str(json).map_err(|e| e.to_string())?;
        extractor().facts(r, None, &mut 0)
    }

    #[test]
    fn the_window_is_two_years_back_to_the_screening_date() {
        let w = Window::new((2026, 6, 30), 2);
        assert!(w.contains(days_from_civil(2024, 6, 30)));
        assert!(!w.contains(days_from_civil(2024, 6, 29)));
        assert!(!w.contains(days_from_civil(2026, 7, 1)));
        let leap = Window::new((2024, 2, 29), 1);
        assert_eq!(leap.start, days_from_civil(2023, 2, 28));
    }

    #[test]
    fn cholesterol_in_mmol_is_converted_and_an_unknown_unit_is_kept_as_such() {
        let obs = |unit: &str, status: &str| {
            format!(
                r#"{{"resourceType":"Observation","id":"o1","status":"{status}",
                "code":{{"coding":[{{"system":"http://loinc.org","code":"2093-3"}}]}},
                "subject":{{"reference":"Patient/p1"}},"effectiveDateTime":"2026-01-02T10:00:00Z",
                "valueQuantity":{{"value":5.0,"code":"{unit}"}}}}"#
            )
        };
        let f = facts(&obs("mmol/L", "final")).expect("facts");
        assert!(
            matches!(&f[..], [Fact::Measure { value: Some(v), .. }] if (*v - 193.35).abs() < 1e-9)
        );
        let f = facts(&obs("mg%", "amended")).expect("facts");
        assert!(
            matches!(&f[..], [Fact::Measure { value: None, blocked: Some(u), .. }] if u.contains("`mg%`"))
        );
        assert!(facts(&obs("mg/dL", "entered-in-error"))
            .expect("facts")
            .is_empty());
        assert!(facts(&obs("mg/dL", "preliminary"))
            .expect("facts")
            .is_empty());
    }

    #[test]
    fn blood_pressure_is_read_from_a_panel_component() {
        let f = facts(
            r#"{"resourceType":"Observation","id":"bp","status":"final",
            "code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
            "subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-03-01",
            "component":[
              {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":131,"code":"mm[Hg]"}},
              {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":82,"code":"mm[Hg]"}}]}"#,
        )
        .expect("facts");
        assert!(matches!(&f[..], [Fact::Measure { slot: 0, value: Some(v), .. }] if *v == 131.0));
    }

    #[test]
    fn conditions_count_by_code_set_and_refuted_ones_never() {
        let cond = |code: &str, clinical: &str, verification: &str| {
            format!(
                r#"{{"resourceType":"Condition","id":"c1","subject":{{"reference":"Patient/p1"}},
                "clinicalStatus":{{"coding":[{{"code":"{clinical}"}}]}},
                "verificationStatus":{{"coding":[{{"code":"{verification}"}}]}},
                "code":{{"coding":[{{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"{code}"}}]}}}}"#
            )
        };
        let f = facts(&cond("E11.9", "resolved", "confirmed")).expect("facts");
        assert!(matches!(&f[..], [Fact::Condition { active: false, .. }]));
        assert!(facts(&cond("E11.9", "active", "refuted"))
            .expect("facts")
            .is_empty());
        assert!(facts(&cond("J45", "active", "confirmed"))
            .expect("facts")
            .is_empty());
    }

    #[test]
    fn a_subject_that_is_not_a_patient_is_an_error() {
        let e = facts(
            r#"{"resourceType":"MedicationRequest","status":"active","subject":{"reference":"Group/g"},
            "medicationCodeableConcept":{"coding":[{"system":"http://www.whocc.no/atc","code":"C10AA05"}]}}"#,
        )
        .expect_err("not a patient");
        assert!(e.contains("Patient"), "{e}");
    }
}
