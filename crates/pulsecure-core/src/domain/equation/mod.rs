//! Published risk equations (AHA PREVENT, 2013 ACC/AHA Pooled Cohort Equations) declared as
//! data: inputs with units and published valid ranges, a term map, coefficient sets per
//! group (sex, race) and a monotone link from the linear sum to a probability.
//!
//! This is the *exact* (f64) form of an equation: the yardstick the quantized and encrypted
//! engines are measured against, and what the published input→output vectors check. A value
//! outside its published range is refused, never clamped: the equations were not fitted there.

mod bounds;
pub mod expr;
mod inputs;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use bounds::{BoundsError, Interval};
pub use expr::{Expr, ExprError, Scope};
pub use inputs::{InputError, InputKind, InputSpec, InputValue, Inputs};

/// How the linear sum becomes a probability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// `1 / (1 + e^(−sum))` (PREVENT).
    Logistic,
    /// `1 − S0^(e^(sum − mean))` with each group's baseline survival `S0` and mean sum (PCE).
    BaselineSurvival,
}

/// One named covariate of the equation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermSpec {
    /// Name, as the publication's row (e.g. `age_smoking`).
    pub name: String,
    /// How it is computed from the inputs and earlier terms.
    pub expr: Expr,
}

/// The coefficients for one group of patients (e.g. women; white men).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Name, for messages (e.g. `female`).
    pub name: String,
    /// Which choice inputs select this group: input name → the levels that belong to it.
    pub when: BTreeMap<String, Vec<String>>,
    /// One coefficient per term, in term order (the constant is a term).
    pub coefficients: Vec<f64>,
    /// Baseline survival `S0` ([`Link::BaselineSurvival`] only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_survival: Option<f64>,
    /// Mean linear sum of the derivation cohort ([`Link::BaselineSurvival`] only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_sum: Option<f64>,
}

/// A published equation: what it reads, how it combines it, and for whom.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Equation {
    /// The inputs, in the order forms and batch columns show them.
    pub inputs: Vec<InputSpec>,
    /// The covariates, in coefficient order.
    pub terms: Vec<TermSpec>,
    /// Coefficient sets; exactly one matches any valid combination of choice inputs.
    pub groups: Vec<GroupSpec>,
    /// The link from linear sum to probability.
    pub link: Link,
}

/// Why an equation declaration was refused. Messages name the offending field.
#[derive(Debug, Error, PartialEq)]
pub enum EquationError {
    /// A field's value is not acceptable.
    #[error("invalid equation field `{field}`: {reason}")]
    Invalid {
        /// Path of the field, e.g. `terms[3].expr`.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> EquationError {
    EquationError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

impl Equation {
    /// Check the declaration: unique names, every expression resolvable, one coefficient per
    /// term, and the groups an exact partition of the choice inputs' level combinations.
    pub fn validate(&self) -> Result<(), EquationError> {
        let mut inputs = BTreeSet::new();
        for (i, input) in self.inputs.iter().enumerate() {
            input
                .validate()
                .map_err(|reason| invalid(format!("inputs[{i}]"), reason))?;
            if !inputs.insert(input.name.as_str()) {
                return Err(invalid(format!("inputs[{i}].name"), "appears twice"));
            }
        }
        let mut terms = BTreeSet::new();
        for (i, term) in self.terms.iter().enumerate() {
            term.expr
                .validate(&inputs, &terms)
                .map_err(|e| invalid(format!("terms[{i}].expr"), e.to_string()))?;
            if !terms.insert(term.name.as_str()) {
                return Err(invalid(format!("terms[{i}].name"), "appears twice"));
            }
        }
        if self.groups.is_empty() {
            return Err(invalid("groups", "at least one coefficient set is needed"));
        }
        for (g, group) in self.groups.iter().enumerate() {
            self.validate_group(g, group)?;
        }
        self.validate_partition()
    }

    fn validate_group(&self, g: usize, group: &GroupSpec) -> Result<(), EquationError> {
        let field = |f: &str| format!("groups[{g}].{f}");
        if group.coefficients.len() != self.terms.len() {
            return Err(invalid(
                field("coefficients"),
                format!("expected one per term ({})", self.terms.len()),
            ));
        }
        if group.coefficients.iter().any(|c| !c.is_finite()) {
            return Err(invalid(field("coefficients"), "not all finite"));
        }
        for (name, levels) in &group.when {
            let Some(InputKind::Choice { levels: declared }) = self.input_kind(name) else {
                return Err(invalid(
                    field("when"),
                    format!("`{name}` is not a choice input"),
                ));
            };
            if let Some(bad) = levels.iter().find(|l| !declared.contains(l)) {
                return Err(invalid(
                    field("when"),
                    format!("`{bad}` is not a level of `{name}`"),
                ));
            }
        }
        let survival = match (group.baseline_survival, group.mean_sum) {
            (Some(s0), Some(mean)) => Some((s0, mean)),
            (None, None) => None,
            _ => {
                return Err(invalid(
                    field("baseline_survival"),
                    "needs mean_sum with it",
                ))
            }
        };
        match (self.link, survival) {
            (Link::Logistic, None) => Ok(()),
            (Link::BaselineSurvival, Some((s0, mean)))
                if s0 > 0.0 && s0 < 1.0 && mean.is_finite() =>
            {
                Ok(())
            }
            (Link::BaselineSurvival, _) => Err(invalid(
                field("baseline_survival"),
                "the baseline-survival link needs S0 in (0, 1) and a finite mean_sum",
            )),
            (Link::Logistic, Some(_)) => Err(invalid(
                field("baseline_survival"),
                "the logistic link takes no baseline survival",
            )),
        }
    }

    /// Every combination of the choice inputs' levels must select exactly one group.
    fn validate_partition(&self) -> Result<(), EquationError> {
        let choices: Vec<(&str, &[String])> = self
            .inputs
            .iter()
            .filter_map(|i| match &i.kind {
                InputKind::Choice { levels } => Some((i.name.as_str(), levels.as_slice())),
                _ => None,
            })
            .collect();
        let mut combination = BTreeMap::new();
        self.each_combination(&choices, &mut combination)
    }

    fn each_combination<'a>(
        &self,
        rest: &[(&'a str, &'a [String])],
        chosen: &mut BTreeMap<&'a str, &'a str>,
    ) -> Result<(), EquationError> {
        let Some(((name, levels), rest)) = rest.split_first() else {
            let matching = self.groups.iter().filter(|g| g.matches(chosen)).count();
            return match matching {
                1 => Ok(()),
                0 => Err(invalid(
                    "groups",
                    format!("no coefficient set for {chosen:?}"),
                )),
                _ => Err(invalid(
                    "groups",
                    format!("several coefficient sets for {chosen:?}"),
                )),
            };
        };
        for level in *levels {
            chosen.insert(name, level);
            self.each_combination(rest, chosen)?;
        }
        chosen.remove(name);
        Ok(())
    }

    pub(crate) fn input_kind(&self, name: &str) -> Option<&InputKind> {
        self.inputs.iter().find(|i| i.name == name).map(|i| &i.kind)
    }

    /// Check a patient's values against the declared inputs (present, of the right kind,
    /// inside the published range) — the only way to obtain [`Inputs`].
    pub fn check(&self, values: &BTreeMap<String, InputValue>) -> Result<Inputs, InputError> {
        Inputs::checked(&self.inputs, values)
    }

    /// The group whose coefficients apply to these inputs.
    pub fn group(&self, inputs: &Inputs) -> &GroupSpec {
        let chosen = inputs.choices();
        // validate() proved that exactly one group matches every combination.
        self.groups
            .iter()
            .find(|g| g.matches(&chosen))
            .unwrap_or(&self.groups[0])
    }

    /// Every term's exact value, in term order.
    pub fn term_values(&self, inputs: &Inputs) -> Vec<f64> {
        let mut scope = TermScope {
            inputs,
            names: Vec::with_capacity(self.terms.len()),
            values: Vec::with_capacity(self.terms.len()),
        };
        for term in &self.terms {
            // validate() proved every name resolves, so evaluation cannot fail; NaN would
            // surface in the probability check rather than panic.
            let value = term.expr.eval(&scope).unwrap_or(f64::NAN);
            scope.names.push(&term.name);
            scope.values.push(value);
        }
        scope.values
    }

    /// The linear sum with the group's coefficients (for the baseline-survival link, minus
    /// the group's mean sum).
    pub fn linear_sum(&self, inputs: &Inputs) -> f64 {
        let group = self.group(inputs);
        let sum: f64 = self
            .term_values(inputs)
            .iter()
            .zip(&group.coefficients)
            .map(|(t, b)| t * b)
            .sum();
        sum - group.mean_sum.unwrap_or(0.0)
    }

    /// The exact probability the published equation gives.
    pub fn probability(&self, inputs: &Inputs) -> f64 {
        let sum = self.linear_sum(inputs);
        match self.link {
            Link::Logistic => 1.0 / (1.0 + (-sum).exp()),
            Link::BaselineSurvival => {
                let s0 = self.group(inputs).baseline_survival.unwrap_or(1.0);
                1.0 - s0.powf(sum.exp())
            }
        }
    }
}

impl GroupSpec {
    fn matches(&self, chosen: &BTreeMap<&str, &str>) -> bool {
        self.when.iter().all(|(name, levels)| {
            chosen
                .get(name.as_str())
                .is_some_and(|level| levels.iter().any(|l| l == level))
        })
    }
}

struct TermScope<'a> {
    inputs: &'a Inputs,
    names: Vec<&'a str>,
    values: Vec<f64>,
}

impl Scope for TermScope<'_> {
    fn input(&self, name: &str) -> Option<f64> {
        self.inputs.number(name)
    }

    fn term(&self, name: &str) -> Option<f64> {
        let i = self.names.iter().position(|n| *n == name)?;
        self.values.get(i).copied()
    }
}
