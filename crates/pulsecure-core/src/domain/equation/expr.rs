//! Term expressions of a published risk equation, declared as data in `model.json`.
//!
//! A published equation's covariates are simple functions of the clinical inputs: centring and
//! scaling (`(age − 55) / 10`), a split at a knot (`min(sbp, 110)`), a product of two terms
//! (`age × smoking`), an indicator, a natural log (PCE). Declaring them as a small expression
//! tree keeps a new model a data-only change, and lets one evaluator (this file) serve every
//! engine that needs the exact value: the float reference and the client's term computation.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// One node of a term expression. JSON: `{"input": "age"}`, `{"const": 55}`,
/// `{"term": "age"}`, `{"sub": [a, b]}`, `{"ln": a}`, ...
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Expr {
    /// A numeric or binary input by name (a binary input is 0 or 1).
    Input(String),
    /// A constant.
    Const(f64),
    /// An earlier term by name (so `age × smoking` reuses the centred age).
    Term(String),
    /// `a + b`.
    Add(Box<[Expr; 2]>),
    /// `a − b`.
    Sub(Box<[Expr; 2]>),
    /// `a × b`.
    Mul(Box<[Expr; 2]>),
    /// `a ÷ b` (the divisor must be a non-zero constant).
    Div(Box<[Expr; 2]>),
    /// `min(a, b)`: the part of a piecewise-linear split below a knot.
    Min(Box<[Expr; 2]>),
    /// `max(a, b)`: the part above a knot.
    Max(Box<[Expr; 2]>),
    /// Natural logarithm (the argument must be positive over the valid input ranges).
    Ln(Box<Expr>),
}

/// Why an expression cannot be evaluated or accepted.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ExprError {
    /// The expression names an input the model does not declare.
    #[error("names the undeclared input `{0}`")]
    UnknownInput(String),
    /// The expression names a term not defined before it.
    #[error("names the term `{0}`, which is not defined before it")]
    UnknownTerm(String),
    /// A divisor is not a non-zero constant.
    #[error("divides by something other than a non-zero constant")]
    BadDivisor,
    /// A constant is not finite.
    #[error("holds a constant that is not a finite number")]
    NotFinite,
}

/// Where an expression reads its inputs and earlier terms from.
pub trait Scope {
    /// The value of the input `name`, if the model declares it.
    fn input(&self, name: &str) -> Option<f64>;
    /// The value of the earlier term `name`, if defined before.
    fn term(&self, name: &str) -> Option<f64>;
}

impl Expr {
    /// Evaluate exactly (f64) in `scope`.
    pub fn eval(&self, scope: &dyn Scope) -> Result<f64, ExprError> {
        let pair = |p: &[Expr; 2]| -> Result<(f64, f64), ExprError> {
            Ok((p[0].eval(scope)?, p[1].eval(scope)?))
        };
        Ok(match self {
            Expr::Input(name) => scope
                .input(name)
                .ok_or_else(|| ExprError::UnknownInput(name.clone()))?,
            Expr::Const(c) => *c,
            Expr::Term(name) => scope
                .term(name)
                .ok_or_else(|| ExprError::UnknownTerm(name.clone()))?,
            Expr::Add(p) => pair(p).map(|(a, b)| a + b)?,
            Expr::Sub(p) => pair(p).map(|(a, b)| a - b)?,
            Expr::Mul(p) => pair(p).map(|(a, b)| a * b)?,
            Expr::Div(p) => pair(p).map(|(a, b)| a / b)?,
            Expr::Min(p) => pair(p).map(|(a, b)| a.min(b))?,
            Expr::Max(p) => pair(p).map(|(a, b)| a.max(b))?,
            Expr::Ln(a) => a.eval(scope)?.ln(),
        })
    }

    /// Check the expression's shape against the declared inputs and the terms defined
    /// before it: every name resolves, constants are finite, divisors are non-zero constants.
    pub fn validate(
        &self,
        inputs: &BTreeSet<&str>,
        earlier_terms: &BTreeSet<&str>,
    ) -> Result<(), ExprError> {
        match self {
            Expr::Input(name) if !inputs.contains(name.as_str()) => {
                Err(ExprError::UnknownInput(name.clone()))
            }
            Expr::Term(name) if !earlier_terms.contains(name.as_str()) => {
                Err(ExprError::UnknownTerm(name.clone()))
            }
            Expr::Input(_) | Expr::Term(_) => Ok(()),
            Expr::Const(c) if !c.is_finite() => Err(ExprError::NotFinite),
            Expr::Const(_) => Ok(()),
            Expr::Div(p) => match &p[1] {
                Expr::Const(c) if c.is_finite() && *c != 0.0 => {
                    p[0].validate(inputs, earlier_terms)
                }
                _ => Err(ExprError::BadDivisor),
            },
            Expr::Add(p) | Expr::Sub(p) | Expr::Mul(p) | Expr::Min(p) | Expr::Max(p) => {
                p[0].validate(inputs, earlier_terms)?;
                p[1].validate(inputs, earlier_terms)
            }
            Expr::Ln(a) => a.validate(inputs, earlier_terms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Values(BTreeMap<&'static str, f64>);
    impl Scope for Values {
        fn input(&self, name: &str) -> Option<f64> {
            self.0.get(name).copied()
        }
        fn term(&self, _: &str) -> Option<f64> {
            None
        }
    }

    fn parse(json: &str) -> Expr {
        serde_json::from_str(json).expect("valid expression")
    }

    #[test]
    fn a_knot_split_reads_as_published() {
        let below = parse(
            r#"{"div":[{"sub":[{"min":[{"input":"sbp"},{"const":110}]},{"const":110}]},{"const":20}]}"#,
        );
        let above = parse(
            r#"{"div":[{"sub":[{"max":[{"input":"sbp"},{"const":110}]},{"const":130}]},{"const":20}]}"#,
        );
        let at = |sbp: f64| {
            let v = Values(BTreeMap::from([("sbp", sbp)]));
            (below.eval(&v).expect("eval"), above.eval(&v).expect("eval"))
        };
        assert_eq!(at(100.0), (-0.5, -1.0));
        assert_eq!(at(150.0), (0.0, 1.0));
    }

    #[test]
    fn unknown_names_and_bad_divisors_are_refused() {
        let inputs = BTreeSet::from(["age"]);
        let none = BTreeSet::new();
        assert_eq!(
            parse(r#"{"input":"agee"}"#).validate(&inputs, &none),
            Err(ExprError::UnknownInput("agee".into()))
        );
        assert_eq!(
            parse(r#"{"term":"age"}"#).validate(&inputs, &none),
            Err(ExprError::UnknownTerm("age".into()))
        );
        assert_eq!(
            parse(r#"{"div":[{"input":"age"},{"input":"age"}]}"#).validate(&inputs, &none),
            Err(ExprError::BadDivisor)
        );
        assert_eq!(
            parse(r#"{"div":[{"input":"age"},{"const":0}]}"#).validate(&inputs, &none),
            Err(ExprError::BadDivisor)
        );
        assert!(serde_json::from_str::<Expr>(r#"{"pow":[{"const":1},{"const":2}]}"#).is_err());
    }
}
