//! A screening verifies the model once and validates the patient once (its own test binary:
//! the counters are per process).

mod support;

use pulsecure_app::verification::model_verifications;
use pulsecure_app::{EvaluatorChoice, Workstation};
use pulsecure_core::domain::patient::validations_performed;
use pulsecure_core::usecase::inference::Recorded;
use pulsecure_core::PatientRef;

#[test]
fn one_model_verification_and_one_patient_validation() {
    let (_tmp, dir) = support::initialized();
    let (verified, validated) = (model_verifications(), validations_performed());
    assert_eq!(verified, 1, "init verified the embedded release once");
    let workstation =
        Workstation::open(&dir, &support::password(), EvaluatorChoice::InProcess).expect("open");
    let patient_ref = PatientRef::parse("P-COUNT").expect("valid");
    let (_, recorded) = workstation
        .screen_values(Some(patient_ref), &support::patient_values(), &mut |_| {})
        .expect("screened");
    assert!(matches!(
        recorded,
        pulsecure_app::screening::PatientOutcome::Recorded(Recorded::Stored(_))
    ));
    assert_eq!(
        model_verifications() - verified,
        0,
        "the embedded release is verified once per process, not per session or screening"
    );
    assert_eq!(validations_performed() - validated, 1, "one validation");
}
