//! Property tests of the reference engine over any valid input.

mod common;

use proptest::prelude::*;
use pulsecure_core::domain::feature::FeatureKind;
use pulsecure_core::{Model, PatientFeatures, QuantizedInput, ReferenceEngine};

fn patient_strategy(model: &Model) -> impl Strategy<Value = Vec<f64>> {
    let parts: Vec<BoxedStrategy<f64>> = model
        .features()
        .iter()
        .map(|f| match f.kind {
            FeatureKind::Binary => prop_oneof![Just(0.0), Just(1.0)].boxed(),
            FeatureKind::Continuous => (f.plausible_min..=f.plausible_max).boxed(),
            FeatureKind::Ordinal => (f.plausible_min as i64..=f.plausible_max as i64)
                .prop_map(|v| v as f64)
                .boxed(),
        })
        .collect();
    parts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_and_index_in_range(values in patient_strategy(&common::default_model())) {
        let model = common::default_model();
        let engine = ReferenceEngine::new(&model);
        let patient = PatientFeatures::from_ordered(model.features(), &values).expect("valid");
        let t = engine.evaluate(&patient);
        let spec = model.index_spec();
        prop_assert!(t.index < (1 << spec.bits));
        // The proven bounds hold, so the clamp in step 4 never acts.
        prop_assert!(t.logit >= model.linear_spec().logit_min);
        prop_assert!(t.logit <= model.linear_spec().logit_max);
        prop_assert_eq!(t.index as i64, (t.logit + spec.offset) >> spec.shift);
        prop_assert!(t.probability_code <= model.probability_scale());
        prop_assert_eq!(t.high_risk, t.probability_code >= model.threshold());
    }

    #[test]
    fn monotone_in_each_feature_by_weight_sign(
        values in patient_strategy(&common::default_model()),
        which in 0usize..64,
        bump in 0.0f64..50.0,
    ) {
        let model = common::default_model();
        let engine = ReferenceEngine::new(&model);
        let f = which % model.features().len();
        let spec = &model.features()[f];
        let mut higher = values.clone();
        higher[f] = match spec.kind {
            FeatureKind::Binary => 1.0,
            FeatureKind::Continuous => (values[f] + bump).min(spec.plausible_max),
            FeatureKind::Ordinal => (values[f] + bump.floor()).min(spec.plausible_max),
        };
        let mut lower = values;
        if spec.kind == FeatureKind::Binary { lower[f] = 0.0; }
        let lo = engine.evaluate(&PatientFeatures::from_ordered(model.features(), &lower).expect("valid"));
        let hi = engine.evaluate(&PatientFeatures::from_ordered(model.features(), &higher).expect("valid"));
        let w = model.weights()[f];
        if w >= 0 {
            prop_assert!(hi.logit >= lo.logit);
            prop_assert!(hi.probability_code >= lo.probability_code);
        } else {
            prop_assert!(hi.logit <= lo.logit);
            prop_assert!(hi.probability_code <= lo.probability_code);
        }
    }
}

#[test]
fn feature_contributions_add_up_to_the_logit_without_the_bias() {
    use pulsecure_core::reference::feature_contributions;
    let model = common::default_model();
    let engine = ReferenceEngine::new(&model);
    let low: Vec<f64> = model.features().iter().map(|f| f.clamp_min).collect();
    let high: Vec<f64> = model.features().iter().map(|f| f.clamp_max).collect();
    let units = 4096.0 / f64::from(1u32 << model.linear_spec().grain_shift);
    for values in [low.clone(), high] {
        let patient = PatientFeatures::from_ordered(model.features(), &values).expect("valid");
        let input = QuantizedInput::from_patient(&model, &patient);
        let parts = feature_contributions(&model, &input);
        let logit = engine.logit(&input) - model.rounded_bias();
        assert!((parts.iter().sum::<f64>() * units - logit as f64).abs() < 1e-9);
    }
    // At the bottom of every training range, nothing contributes.
    let patient = PatientFeatures::from_ordered(model.features(), &low).expect("valid");
    let input = QuantizedInput::from_patient(&model, &patient);
    assert!(feature_contributions(&model, &input)
        .iter()
        .all(|&c| c == 0.0));
}
