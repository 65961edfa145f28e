//! Proven ranges of an equation's terms over its published input ranges (interval
//! arithmetic), the same rule as `training/equation_bounds.py`.
//!
//! A quantized term's code must never saturate for a valid patient; the schema-2 loader
//! re-derives each term's range here and refuses an encoding that does not cover it.

use super::{Equation, Expr, InputKind};

/// A closed range `[lo, hi]`.
pub type Interval = (f64, f64);

fn corners(values: [f64; 4]) -> Interval {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

/// Why a range could not be proven.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BoundsError {
    /// A term reads a choice input as a number.
    #[error("`{0}` has no numeric range")]
    NotNumeric(String),
    /// A logarithm of a range that reaches zero or below.
    #[error("a logarithm's argument can reach zero")]
    LogOfNonPositive,
}

impl Expr {
    fn interval(
        &self,
        inputs: &dyn Fn(&str) -> Option<Interval>,
        terms: &[(String, Interval)],
    ) -> Result<Interval, BoundsError> {
        let pair = |p: &[Expr; 2]| -> Result<(Interval, Interval), BoundsError> {
            Ok((p[0].interval(inputs, terms)?, p[1].interval(inputs, terms)?))
        };
        Ok(match self {
            Expr::Input(name) => {
                inputs(name).ok_or_else(|| BoundsError::NotNumeric(name.clone()))?
            }
            Expr::Const(c) => (*c, *c),
            Expr::Term(name) => terms
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, r)| *r)
                .ok_or_else(|| BoundsError::NotNumeric(name.clone()))?,
            Expr::Add(p) => pair(p).map(|((a, b), (c, d))| (a + c, b + d))?,
            Expr::Sub(p) => pair(p).map(|((a, b), (c, d))| (a - d, b - c))?,
            Expr::Mul(p) => {
                pair(p).map(|((a, b), (c, d))| corners([a * c, a * d, b * c, b * d]))?
            }
            // validate() allows only a non-zero constant divisor.
            Expr::Div(p) => {
                pair(p).map(|((a, b), (c, d))| corners([a / c, a / d, b / c, b / d]))?
            }
            Expr::Min(p) => pair(p).map(|((a, b), (c, d))| (a.min(c), b.min(d)))?,
            Expr::Max(p) => pair(p).map(|((a, b), (c, d))| (a.max(c), b.max(d)))?,
            Expr::Ln(a) => {
                let (lo, hi) = a.interval(inputs, terms)?;
                if lo <= 0.0 {
                    return Err(BoundsError::LogOfNonPositive);
                }
                (lo.ln(), hi.ln())
            }
        })
    }
}

impl Equation {
    /// Every term's proven range over the published input ranges, in term order (yes/no
    /// answers range over 0..1; choices select coefficient sets and have no range).
    pub fn term_intervals(&self) -> Result<Vec<Interval>, BoundsError> {
        let inputs = |name: &str| match self.input_kind(name)? {
            InputKind::Number { min, max, .. } => Some((*min, *max)),
            InputKind::Binary => Some((0.0, 1.0)),
            InputKind::Choice { .. } => None,
        };
        let mut done: Vec<(String, Interval)> = Vec::with_capacity(self.terms.len());
        for term in &self.terms {
            let range = term.expr.interval(&inputs, &done)?;
            done.push((term.name.clone(), range));
        }
        Ok(done.into_iter().map(|(_, r)| r).collect())
    }
}
