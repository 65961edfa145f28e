//! `--format fhir`: each result as a FHIR R4 RiskAssessment whose `basis` lists the
//! resources the patient's values came from. The reader reports each patient's basis
//! before its results ([`FhirOut::hook`]); an entry is dropped once its last model's result
//! (or its rejection) is written, so memory stays bounded by what is in flight.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use pulsecure_core::civil_date::civil_from_days;
use pulsecure_core::PatientRef;
use pulsecure_fhir::risk_assessment::{outcome_of, risk_assessment, Assessment, AssessmentResult};
use serde_json::Value;

/// What the reader calls with each patient's basis.
pub(crate) type BasisHook = Box<dyn FnMut(&PatientRef, &[String])>;

/// The hook for `out`, or one that keeps nothing (output other than FHIR).
pub(crate) fn hook_for(out: Option<&FhirOut>) -> BasisHook {
    match out {
        Some(out) => Box::new(out.hook()),
        None => Box::new(|_: &PatientRef, _: &[String]| {}),
    }
}

/// Basis per patient: the references and how many results still need them.
type BasisMap = HashMap<String, (Vec<String>, usize)>;

/// FHIR output state shared by the reader's hook and a sink.
#[derive(Clone)]
pub(crate) struct FhirOut {
    basis: Rc<RefCell<BasisMap>>,
    occurrence: String,
    as_of: (i64, i64, i64),
    results_per_patient: usize,
    /// One patient in flight at a time (published equations): a new basis replaces the
    /// others, so a patient whose results stopped early leaves nothing behind.
    single: bool,
    /// Results stored by an earlier run, not written as assessments.
    stored_earlier: Rc<RefCell<u64>>,
}

/// Now as a FHIR dateTime in UTC (`2026-12-06T23:40:00Z`).
fn now_datetime() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        (s % 3600) / 60,
        s % 60
    )
}

impl FhirOut {
    /// Output for `results_per_patient` results per patient (one per model), read for the
    /// screening date `as_of`.
    pub(crate) fn new(results_per_patient: usize, as_of: (i64, i64, i64)) -> Self {
        FhirOut {
            basis: Rc::new(RefCell::new(HashMap::new())),
            occurrence: now_datetime(),
            as_of,
            results_per_patient: results_per_patient.max(1),
            single: false,
            stored_earlier: Rc::new(RefCell::new(0)),
        }
    }

    /// For a screening that finishes each patient before reading the next.
    pub(crate) fn one_patient_at_a_time(mut self) -> Self {
        self.single = true;
        self
    }

    /// A result an earlier run stored: today's inputs were not screened, so no new
    /// RiskAssessment is written (its time, period and basis would claim they were); it is
    /// counted and reported once at the end.
    pub(crate) fn stored_earlier(&self, patient_ref: &PatientRef) {
        *self.stored_earlier.borrow_mut() += 1;
        let mut map = self.basis.borrow_mut();
        if let Some((_, left)) = map.get_mut(patient_ref.as_str()) {
            *left = left.saturating_sub(1);
            if *left == 0 {
                map.remove(patient_ref.as_str());
            }
        }
    }

    /// How many results were stored by an earlier run (not written).
    pub(crate) fn stored_earlier_count(&self) -> u64 {
        *self.stored_earlier.borrow()
    }

    /// The hook the reader calls with each patient's basis.
    pub(crate) fn hook(&self) -> impl FnMut(&PatientRef, &[String]) + 'static {
        let basis = Rc::clone(&self.basis);
        let n = self.results_per_patient;
        let single = self.single;
        move |patient_ref, refs| {
            let mut map = basis.borrow_mut();
            if single {
                map.clear();
            }
            map.insert(patient_ref.as_str().to_string(), (refs.to_vec(), n));
        }
    }

    /// Forget a rejected patient's basis.
    pub(crate) fn forget(&self, patient_ref: Option<&PatientRef>) {
        if let Some(r) = patient_ref {
            self.basis.borrow_mut().remove(r.as_str());
        }
    }

    /// The RiskAssessment of one result.
    pub(crate) fn resource(
        &self,
        patient_ref: &PatientRef,
        model_id: &str,
        model_version: u64,
        result: AssessmentResult<'_>,
    ) -> Value {
        let id = patient_ref.as_str();
        let basis = {
            let mut map = self.basis.borrow_mut();
            match map.get_mut(id) {
                Some((refs, left)) => {
                    *left = left.saturating_sub(1);
                    let refs = refs.clone();
                    if *left == 0 {
                        map.remove(id);
                    }
                    refs
                }
                None => vec![format!("Patient/{id}")],
            }
        };
        risk_assessment(&Assessment {
            patient_id: id,
            occurrence: &self.occurrence,
            as_of: self.as_of,
            model_id,
            model_version,
            outcome: outcome_of(model_id),
            result,
            basis: &basis,
        })
    }
}

/// Say how many results were stored by an earlier run and not written as assessments.
pub(crate) fn report_stored_earlier(out: &FhirOut) {
    let n = out.stored_earlier_count();
    if n > 0 {
        eprintln!(
            "{n} result(s) were stored by an earlier run and are not written as new RiskAssessments (today's inputs were not screened; see `pulsecure history`)"
        );
    }
}
