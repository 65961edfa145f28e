//! Aggregate queries over stored screenings, with their sensitivity stated.

use thiserror::Error;

use crate::domain::assessment::RiskClass;

/// A query that cannot be asked. Part of the domain: the privacy port wraps it.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum QueryError {
    /// A query name that does not exist.
    #[error("unknown query {0:?} (expected one of: count, mean-risk, histogram)")]
    UnknownQuery(String),
    /// Clamp bounds with lower > upper.
    #[error("invalid clamp bounds: lower {lower} is above upper {upper}")]
    InvertedBounds {
        /// Lower bound.
        lower: i64,
        /// Upper bound.
        upper: i64,
    },
    /// A clamp bound outside the probability-code range (refused before any arithmetic).
    #[error(
        "clamp bound {bound} is outside the probability-code range 0..={PROBABILITY_CODE_MAX}"
    )]
    BoundOutOfRange {
        /// The bound given.
        bound: i64,
    },
    /// A window ending in the future: screenings could still be added inside it, so the
    /// recorded answer for it could not stand.
    #[error("the statistics window must end now or earlier (it ends {ahead} s in the future)")]
    WindowInFuture {
        /// Seconds past now.
        ahead: i64,
    },
}

/// The screenings a release covers: those made before `before` (Unix seconds). The window is
/// named by the analyst, never derived from the data, and ends no later than now, so an
/// identical query over an identical window can be answered from the ledger without telling
/// anything about screenings added since.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    before: i64,
}

impl Window {
    /// The window of screenings before `before`, refused if it ends after `now`.
    pub fn as_of(before: i64, now: i64) -> Result<Self, QueryError> {
        if before > now {
            return Err(QueryError::WindowInFuture {
                ahead: before - now,
            });
        }
        Ok(Window { before })
    }

    /// End of the window (exclusive), Unix seconds.
    pub fn before(&self) -> i64 {
        self.before
    }

    /// Stable key stored in the ledger.
    pub fn key(&self) -> String {
        format!("before:{}", self.before)
    }
}

/// Age bands of the histogram (years, lower bound inclusive).
pub const AGE_BANDS: [(&str, f64); 4] = [
    ("<40", 0.0),
    ("40-59", 40.0),
    ("60-79", 60.0),
    ("80+", 80.0),
];

/// Largest probability code (1/4096 units): the clamp bound of risk sums.
pub const PROBABILITY_CODE_MAX: i64 = 4096;

/// A DP query. Neighbouring datasets differ by one screening (add or remove).
#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    /// Number of high-risk screenings. Sensitivity 1.
    HighRiskCount,
    /// Mean calibrated risk: a sum of probability codes clamped to `[lower, upper]`
    /// (sensitivity max(|lower|, |upper|)) and a count (sensitivity 1), each with half the ε;
    /// the mean is their ratio (post-processing).
    MeanRisk {
        /// Clamp lower bound (probability code).
        lower: i64,
        /// Clamp upper bound (probability code).
        upper: i64,
    },
    /// Counts per risk class × age band (8 cells). Sensitivity 1 in L1: one screening is
    /// in exactly one cell.
    Histogram,
}

impl Query {
    /// Parse a query name as typed on the command line.
    pub fn parse(name: &str, bounds: Option<(i64, i64)>) -> Result<Self, QueryError> {
        let query = match name {
            "count" => Query::HighRiskCount,
            "mean-risk" => {
                let (lower, upper) = bounds.unwrap_or((0, PROBABILITY_CODE_MAX));
                Query::MeanRisk { lower, upper }
            }
            "histogram" => Query::Histogram,
            other => return Err(QueryError::UnknownQuery(other.to_string())),
        };
        query.validate()?;
        Ok(query)
    }

    /// Check declared bounds: inside `0..=PROBABILITY_CODE_MAX` (so no later arithmetic on
    /// them can overflow) and ordered.
    pub fn validate(&self) -> Result<(), QueryError> {
        if let Query::MeanRisk { lower, upper } = self {
            for bound in [*lower, *upper] {
                if !(0..=PROBABILITY_CODE_MAX).contains(&bound) {
                    return Err(QueryError::BoundOutOfRange { bound });
                }
            }
            if lower > upper {
                return Err(QueryError::InvertedBounds {
                    lower: *lower,
                    upper: *upper,
                });
            }
        }
        Ok(())
    }

    /// Stable key (name and parameters) used in the ledger.
    pub fn key(&self) -> String {
        match self {
            Query::HighRiskCount => "count".into(),
            Query::MeanRisk { lower, upper } => format!("mean-risk[{lower},{upper}]"),
            Query::Histogram => "histogram".into(),
        }
    }

    /// Labels of the released values, in order.
    pub fn outputs(&self) -> Vec<String> {
        match self {
            Query::HighRiskCount => vec!["high-risk screenings".into()],
            Query::MeanRisk { .. } => vec!["sum of probability codes".into(), "screenings".into()],
            Query::Histogram => [RiskClass::Low, RiskClass::High]
                .iter()
                .flat_map(|c| {
                    AGE_BANDS
                        .iter()
                        .map(move |(band, _)| format!("{} risk, age {band}", c.as_str()))
                })
                .collect(),
        }
    }

    /// One-line statement of the sensitivity, shown before spending.
    pub fn sensitivity(&self) -> String {
        match self {
            Query::HighRiskCount => "1 (one screening changes the count by at most 1)".into(),
            Query::MeanRisk { lower, upper } => format!(
                "sum {} (codes clamped to [{lower}, {upper}]) and count 1, ε split in halves",
                lower.abs().max(upper.abs())
            ),
            Query::Histogram => "1 in L1 (one screening is in exactly one cell)".into(),
        }
    }
}

/// What the queries read: one row per stored screening, patient values reduced to what
/// the queries need.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    /// High-risk flag per screening.
    pub high_risk: Vec<bool>,
    /// Probability code per screening.
    pub probability_codes: Vec<i64>,
    /// Histogram cell index per screening (`class * 4 + age band`).
    pub cells: Vec<u32>,
}

impl Dataset {
    /// Number of screenings.
    pub fn len(&self) -> usize {
        self.high_risk.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.high_risk.is_empty()
    }

    /// Histogram cell of a screening.
    pub fn cell(class: RiskClass, age: f64) -> u32 {
        let band = AGE_BANDS
            .iter()
            .rposition(|(_, lower)| age >= *lower)
            .unwrap_or(0) as u32;
        let class = u32::from(class == RiskClass::High);
        class * AGE_BANDS.len() as u32 + band
    }
}
