//! The OpenDP measurements behind each query.

use opendp::combinators::{make_chain_mt, make_chain_tt};
use opendp::core::Measurement;
use opendp::domains::{AtomDomain, VectorDomain};
use opendp::measurements::make_laplace;
use opendp::measures::MaxDivergence;
use opendp::metrics::{L1Distance, SymmetricDistance};
use opendp::transformations::{make_clamp, make_count, make_count_by_categories, make_sum};

use pulsecure_core::domain::analytics::{Dataset, Query, AGE_BANDS};
use pulsecure_core::ports::privacy::{PrivacyError, PrivacyMechanism};

type Scalar<T> = Measurement<VectorDomain<AtomDomain<T>>, SymmetricDistance, MaxDivergence, i64>;
type Vector =
    Measurement<VectorDomain<AtomDomain<u32>>, SymmetricDistance, MaxDivergence, Vec<i64>>;

fn fail(e: opendp::error::Error) -> PrivacyError {
    PrivacyError::Mechanism(e.to_string())
}

/// Histogram cells: risk class × age band.
fn cell_count() -> u32 {
    2 * AGE_BANDS.len() as u32
}

/// Noisy count of the rows of a `Vec<u8>` (sensitivity 1), noise scale `1/epsilon`.
fn count_measurement(epsilon: f64) -> Result<Scalar<u8>, PrivacyError> {
    let count = make_count::<u8, i64>(VectorDomain::new(AtomDomain::default()), SymmetricDistance)
        .map_err(fail)?;
    let noise = make_laplace(
        count.output_domain.clone(),
        count.output_metric.clone(),
        1.0 / epsilon,
        None,
    )
    .map_err(fail)?;
    make_chain_mt(&noise, &count).map_err(fail)
}

/// Noisy sum of values clamped to `bounds` (sensitivity max(|lower|, |upper|)).
fn sum_measurement(bounds: (i64, i64), epsilon: f64) -> Result<Scalar<i64>, PrivacyError> {
    let clamp = make_clamp(
        VectorDomain::new(AtomDomain::default()),
        SymmetricDistance,
        bounds,
    )
    .map_err(fail)?;
    let sum = make_sum(clamp.output_domain.clone(), SymmetricDistance).map_err(fail)?;
    let bounded_sum = make_chain_tt(&sum, &clamp).map_err(fail)?;
    let sensitivity = bounds.0.abs().max(bounds.1.abs()).max(1) as f64;
    let noise = make_laplace(
        bounded_sum.output_domain.clone(),
        bounded_sum.output_metric.clone(),
        sensitivity / epsilon,
        None,
    )
    .map_err(fail)?;
    make_chain_mt(&noise, &bounded_sum).map_err(fail)
}

/// Noisy counts per cell (sensitivity 1 in L1).
fn histogram_measurement(epsilon: f64) -> Result<Vector, PrivacyError> {
    let counts = make_count_by_categories::<L1Distance<i64>, u32, i64>(
        VectorDomain::new(AtomDomain::default()),
        SymmetricDistance,
        (0..cell_count()).collect(),
        false,
    )
    .map_err(fail)?;
    let noise = make_laplace(
        counts.output_domain.clone(),
        counts.output_metric.clone(),
        1.0 / epsilon,
        None,
    )
    .map_err(fail)?;
    make_chain_mt(&noise, &counts).map_err(fail)
}

/// Releases with OpenDP.
#[derive(Debug, Default, Clone, Copy)]
pub struct OpenDpMechanism;

impl OpenDpMechanism {
    /// ε of a measurement at symmetric distance 1.
    fn epsilon_of<DI, TO>(
        m: &Measurement<DI, SymmetricDistance, MaxDivergence, TO>,
    ) -> Result<f64, PrivacyError>
    where
        DI: opendp::core::Domain,
    {
        m.map(&1).map_err(fail)
    }
}

impl PrivacyMechanism for OpenDpMechanism {
    fn cost(&self, query: &Query, epsilon: f64) -> Result<f64, PrivacyError> {
        if !epsilon.is_finite() || epsilon <= 0.0 {
            return Err(PrivacyError::InvalidEpsilon);
        }
        query.validate()?;
        match query {
            Query::HighRiskCount => Self::epsilon_of(&count_measurement(epsilon)?),
            Query::MeanRisk { lower, upper } => {
                let half = epsilon / 2.0;
                Ok(Self::epsilon_of(&sum_measurement((*lower, *upper), half)?)?
                    + Self::epsilon_of(&count_measurement(half)?)?)
            }
            Query::Histogram => Self::epsilon_of(&histogram_measurement(epsilon)?),
        }
    }

    fn release(
        &self,
        query: &Query,
        epsilon: f64,
        data: &Dataset,
    ) -> Result<Vec<f64>, PrivacyError> {
        query.validate()?;
        match query {
            Query::HighRiskCount => {
                let rows: Vec<u8> = data.high_risk.iter().filter(|h| **h).map(|_| 1).collect();
                let noisy = count_measurement(epsilon)?.invoke(&rows).map_err(fail)?;
                Ok(vec![noisy as f64])
            }
            Query::MeanRisk { lower, upper } => {
                let half = epsilon / 2.0;
                let sum = sum_measurement((*lower, *upper), half)?
                    .invoke(&data.probability_codes)
                    .map_err(fail)?;
                let rows = vec![1u8; data.len()];
                let count = count_measurement(half)?.invoke(&rows).map_err(fail)?;
                Ok(vec![sum as f64, count as f64])
            }
            Query::Histogram => {
                let noisy = histogram_measurement(epsilon)?
                    .invoke(&data.cells)
                    .map_err(fail)?;
                Ok(noisy.into_iter().map(|v| v as f64).collect())
            }
        }
    }
}
