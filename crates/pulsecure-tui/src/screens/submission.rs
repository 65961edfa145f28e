//! A screening the entry form asks for, before the router gives it a job number and a
//! cancel flag and hands it to the worker.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use pulsecure_core::domain::eligibility::NotEligible;
use pulsecure_core::domain::equation::InputValue;
use pulsecure_core::{PatientFeatures, PatientRef};

use crate::worker::Request;

/// A validated form, as the work it asks for.
pub enum Submission {
    /// Screen a cvd-lr patient under encryption.
    Screen {
        /// Pseudonymous reference.
        patient_ref: PatientRef,
        /// Validated values.
        patient: PatientFeatures,
    },
    /// Screen a patient with a published-equation choice.
    Equations {
        /// The choice's selector (`prevent`, `pce-ascvd-10y`).
        selector: String,
        /// Pseudonymous reference.
        patient_ref: PatientRef,
        /// The form's values by input name, plus `known_cvd`.
        values: BTreeMap<String, InputValue>,
    },
    /// Store that a cvd-lr patient is outside the model's population: nothing to encrypt.
    NotEligible {
        /// Pseudonymous reference.
        patient_ref: PatientRef,
        /// Why.
        why: NotEligible,
    },
}

impl Submission {
    /// The patient's reference.
    pub fn patient_ref(&self) -> &PatientRef {
        match self {
            Submission::Screen { patient_ref, .. }
            | Submission::Equations { patient_ref, .. }
            | Submission::NotEligible { patient_ref, .. } => patient_ref,
        }
    }

    /// The cvd-lr patient screened under encryption (its result shows contributions);
    /// `None` for the others.
    pub fn patient(&self) -> Option<&PatientFeatures> {
        match self {
            Submission::Screen { patient, .. } => Some(patient),
            _ => None,
        }
    }

    /// The worker's request for job `job`; `cancel` is the flag Esc sets (a not-eligible
    /// decision is stored at once and has none).
    pub fn into_request(self, job: u64, cancel: Arc<AtomicBool>) -> Request {
        match self {
            Submission::Screen {
                patient_ref,
                patient,
            } => Request::Screen {
                job,
                patient_ref,
                patient,
                cancel,
            },
            Submission::Equations {
                selector,
                patient_ref,
                values,
            } => Request::ScreenEquations {
                job,
                selector,
                patient_ref,
                values,
                cancel,
            },
            Submission::NotEligible { patient_ref, why } => Request::RecordNotEligible {
                job,
                patient_ref,
                why,
            },
        }
    }
}
