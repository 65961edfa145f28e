//! The slot form of the linear part agrees with the accumulator, the weight digits' outputs
//! recombine to it, the accumulator and every output stay inside the re-derived bounds, and the
//! released models are inside the encryption limits.

use std::collections::BTreeMap;

use super::*;
use crate::domain::equation::{InputKind, InputValue};

const RELEASES: [&str; 3] = [
    include_str!("../../../../../models/prevent-cvd-10y/v2/model.json"),
    include_str!("../../../../../models/prevent-ascvd-10y/v2/model.json"),
    include_str!("../../../../../models/pce-ascvd-10y/v1/model.json"),
];

fn released() -> Vec<EquationModel> {
    RELEASES
        .iter()
        .map(|text| EquationModel::from_json(text).expect("the release validates"))
        .collect()
}

/// splitmix64: a small deterministic generator (no dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A valid patient: every number inside its published range (at an end when `corner`).
fn random_patient(
    model: &EquationModel,
    rng: &mut Rng,
    corner: bool,
) -> BTreeMap<String, InputValue> {
    model
        .equation()
        .inputs
        .iter()
        .map(|spec| {
            let value = match &spec.kind {
                InputKind::Number { min, max, .. } if corner => {
                    InputValue::Number(if rng.below(2) == 0 { *min } else { *max })
                }
                InputKind::Number { min, max, .. } => {
                    InputValue::Number((min + (max - min) * rng.unit()).clamp(*min, *max))
                }
                InputKind::Binary => InputValue::Number(rng.below(2) as f64),
                InputKind::Choice { levels } => {
                    InputValue::Level(levels[rng.below(levels.len())].clone())
                }
            };
            (spec.name.clone(), value)
        })
        .collect()
}

#[test]
fn slot_dot_product_is_the_accumulator_on_random_valid_patients() {
    let mut rng = Rng(20_261_206);
    for model in released() {
        let weights = model.slot_weights();
        let terms = model.encoded_terms().len();
        assert_eq!(weights.len(), model.group_count() * (terms + 1));
        let mut groups_seen = BTreeSet::new();
        for k in 0..1000 {
            let values = random_patient(&model, &mut rng, k % 5 == 0);
            let inputs = model.equation().check(&values).expect("a valid patient");
            let patient = model.encode(&inputs);
            let slots = model.slot_values(&patient);
            assert_eq!(slots.len(), weights.len());
            let dot: i64 = weights
                .iter()
                .zip(&slots)
                .map(|(&w, &v)| w * i64::try_from(v).expect("small"))
                .sum();
            let acc = model.accumulate(&patient);
            assert_eq!(dot, acc, "{}: patient {k}", model.id());
            let outputs = model.output_values(&patient);
            assert_eq!(outputs.len(), model.output_count());
            assert_eq!(
                model.recombine(&outputs),
                acc,
                "{}: patient {k}",
                model.id()
            );
            for (a, (lo, hi)) in outputs.iter().zip(model.output_bounds()) {
                assert!(
                    (lo..=hi).contains(a),
                    "{}: output outside its bounds",
                    model.id()
                );
            }
            let linear = model.linear();
            assert!((linear.acc_min..=linear.acc_max).contains(&acc));
            assert!(model.index_of(acc) <= model.index().max);
            assert_eq!(
                (acc + model.index().offset) >> model.index().shift,
                i64::from(model.index_of(acc)),
                "the index is never clamped for a valid patient"
            );
            groups_seen.insert(patient.group);
        }
        assert_eq!(groups_seen.len(), model.group_count());
    }
}

#[test]
fn slots_hold_the_patients_group_only() {
    let model = &released()[0];
    let terms = model.encoded_terms().len();
    let linear = model.linear();
    let weights = model.slot_weights();
    for g in 0..model.group_count() {
        let row = &weights[g * (terms + 1)..(g + 1) * (terms + 1)];
        assert_eq!(&row[..terms], linear.weights[g].as_slice());
        assert_eq!(row[terms], linear.bias[g] * 4, "bias · 2^(12 - 10)");
    }
    let patient = EncodedPatient {
        group: 1,
        codes: (1..=terms as u32).collect(),
    };
    let slots = model.slot_values(&patient);
    assert!(slots[..terms + 1].iter().all(|&v| v == 0));
    assert_eq!(
        slots[terms + 1..2 * terms + 1],
        (1..=terms as u64).collect::<Vec<_>>()[..]
    );
    assert_eq!(slots[2 * terms + 1], 1 << GROUP_CODE_BITS);
    assert_eq!(
        format!("{patient:?}"),
        format!("EncodedPatient {{ {terms} codes }}")
    );
}

#[test]
fn releases_are_inside_the_encryption_limits_and_code_yes_no_as_the_group_code() {
    for model in released() {
        let linear = model.linear();
        for (row, (lo, hi)) in model.output_weights().iter().zip(model.output_bounds()) {
            assert!(hi - lo < 1 << PLAINTEXT_BITS, "{}", model.id());
            let mass = row.iter().map(|w| w.abs()).sum::<i64>();
            assert!(0 < mass && mass <= MAX_SLOT_WEIGHT_MASS, "{mass}");
        }
        if model.output_count() == 1 {
            assert!(linear.acc_max - linear.acc_min < 1 << PLAINTEXT_BITS);
            let mass = model.slot_weight_mass();
            assert!(0 < mass && mass <= MAX_SLOT_WEIGHT_MASS, "{mass}");
            assert_eq!(
                mass,
                model.slot_weights().iter().map(|w| w.abs()).sum::<i64>()
            );
        }
        assert_eq!(model.index().shift, linear.weight_bits + INDEX_SHIFT);
        for t in model.encoded_terms() {
            if t.step == f64::powi(2.0, -(GROUP_CODE_BITS as i32)) {
                assert_eq!((t.min, t.max, t.bits), (0.0, 1.0, GROUP_CODE_BITS + 1));
                assert_eq!(max_code(t), 1 << GROUP_CODE_BITS, "{}", t.term);
            } else {
                assert_eq!(max_code(t), (1 << t.bits) - 1, "{}", t.term);
            }
        }
    }
}

#[test]
fn pce_splits_its_weights_into_three_digits_that_recombine_exactly() {
    let pce = &released()[2];
    assert_eq!(pce.id(), "pce-ascvd-10y");
    assert_eq!(
        (
            pce.linear().weight_bits,
            pce.weight_digit_bits(),
            pce.output_count()
        ),
        (18, 8, 3)
    );
    assert_eq!(pce.group_count(), 4);
    let rows = pce.output_weights();
    for (s, &w) in pce.slot_weights().iter().enumerate() {
        assert!(rows[..2].iter().all(|row| (0..256).contains(&row[s])));
        let back: i64 = rows
            .iter()
            .enumerate()
            .map(|(j, row)| row[s] << (8 * j))
            .sum();
        assert_eq!(back, w, "slot {s}");
    }
    for model in &released()[..2] {
        assert_eq!((model.output_count(), model.weight_digit_bits()), (1, 0));
        assert_eq!(model.output_weights(), vec![model.slot_weights()]);
    }
}

#[test]
fn weight_digits_recombine_for_any_sign() {
    for w in [
        0i64,
        1,
        -1,
        255,
        256,
        -256,
        7_646_208,
        -7_646_208,
        -(1 << 30) + 3,
    ] {
        for (k, d) in [(8u32, 3usize), (5, 4), (1, 2), (6, 8)] {
            let digits = weight_digits(w, k, d);
            assert_eq!(digits.len(), d);
            assert!(digits[..d - 1].iter().all(|&x| (0..1 << k).contains(&x)));
            let back: i64 = digits
                .iter()
                .enumerate()
                .map(|(j, &x)| x << (k as usize * j))
                .sum();
            assert_eq!(back, w, "{w} k={k} d={d}");
        }
        assert_eq!(weight_digits(w, 0, 1), vec![w]);
    }
}
