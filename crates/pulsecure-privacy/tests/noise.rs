//! Statistical checks of the OpenDP releases: the noise is there, centred, and scaled as
//! sensitivity / ε. These tests fail if noise were missing or mis-scaled.

use pulsecure_core::domain::analytics::{Dataset, Query, QueryError};
use pulsecure_core::ports::privacy::{PrivacyError, PrivacyMechanism};
use pulsecure_core::RiskClass;
use pulsecure_privacy::OpenDpMechanism;

fn dataset(n: usize) -> Dataset {
    let mut d = Dataset::default();
    for i in 0..n {
        let high = i % 3 == 0;
        d.high_risk.push(high);
        d.probability_codes.push(if high { 900 } else { 100 });
        let class = if high {
            RiskClass::High
        } else {
            RiskClass::Low
        };
        d.cells.push(Dataset::cell(class, 30.0 + (i % 60) as f64));
    }
    d
}

/// Mean and mean absolute deviation of `samples`.
fn moments(samples: &[f64]) -> (f64, f64) {
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let mad = samples.iter().map(|s| (s - mean).abs()).sum::<f64>() / n;
    (mean, mad)
}

#[test]
fn count_noise_is_centred_with_laplace_scale_one_over_epsilon() {
    let data = dataset(300);
    let truth = data.high_risk.iter().filter(|h| **h).count() as f64;
    let m = OpenDpMechanism;
    for epsilon in [0.5, 0.1] {
        let samples: Vec<f64> = (0..4000)
            .map(|_| {
                m.release(&Query::HighRiskCount, epsilon, &data)
                    .expect("release")[0]
                    - truth
            })
            .collect();
        let (mean, mad) = moments(&samples);
        let scale = 1.0 / epsilon;
        // Laplace(b): E|X| = b. 4000 samples: standard error of the mean ≈ 1.41 b / 63.
        assert!(mean.abs() < 0.12 * scale, "ε={epsilon}: mean {mean}");
        assert!(
            (mad / scale - 1.0).abs() < 0.12,
            "ε={epsilon}: mean |noise| {mad}, expected ≈ {scale}"
        );
        assert!(samples.iter().any(|s| *s != 0.0), "noise is present");
    }
}

#[test]
fn sum_noise_scales_with_the_clamp_bound() {
    let data = dataset(200);
    let m = OpenDpMechanism;
    let epsilon = 1.0;
    let query = Query::MeanRisk {
        lower: 0,
        upper: 1000,
    };
    let truth: f64 = data.probability_codes.iter().map(|c| *c as f64).sum();
    let samples: Vec<f64> = (0..3000)
        .map(|_| m.release(&query, epsilon, &data).expect("release")[0] - truth)
        .collect();
    let (mean, mad) = moments(&samples);
    // Half the ε for the sum: scale = 1000 / 0.5.
    let scale = 2000.0;
    assert!(mean.abs() < 0.12 * scale, "mean {mean}");
    assert!(
        (mad / scale - 1.0).abs() < 0.12,
        "mean |noise| {mad}, expected ≈ {scale}"
    );
}

#[test]
fn the_charged_epsilon_comes_from_the_privacy_map() {
    let m = OpenDpMechanism;
    for (query, epsilon) in [
        (Query::HighRiskCount, 0.25),
        (Query::Histogram, 0.5),
        (
            Query::MeanRisk {
                lower: 0,
                upper: 4096,
            },
            1.0,
        ),
    ] {
        let charged = m.cost(&query, epsilon).expect("cost");
        assert!(
            charged >= epsilon * (1.0 - 1e-9) && charged <= epsilon * (1.0 + 1e-6),
            "{query:?}: charged {charged} for requested {epsilon}"
        );
    }
}

#[test]
fn histogram_has_one_noisy_cell_per_class_and_age_band() {
    let data = dataset(400);
    let m = OpenDpMechanism;
    let noisy = m.release(&Query::Histogram, 1.0, &data).expect("release");
    assert_eq!(noisy.len(), Query::Histogram.outputs().len());
    let total: f64 = noisy.iter().sum();
    assert!((total - 400.0).abs() < 60.0, "total {total}");
}

#[test]
fn invalid_requests_are_refused() {
    let m = OpenDpMechanism;
    for bad in [0.0, -0.5, f64::NAN, f64::INFINITY] {
        assert_eq!(
            m.cost(&Query::HighRiskCount, bad),
            Err(PrivacyError::InvalidEpsilon)
        );
    }
    assert!(matches!(
        m.cost(&Query::MeanRisk { lower: 5, upper: 1 }, 1.0),
        Err(PrivacyError::Query(QueryError::InvertedBounds { .. }))
    ));
}
