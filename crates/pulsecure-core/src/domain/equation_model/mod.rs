//! Schema-2 models: a published risk equation (PREVENT, PCE) with the integer pipeline every
//! engine runs on it — the client's term codes, the evaluator's linear part (exact products of
//! small integer weights and codes, one linear combination of slots), the index and the signed
//! output table (docs/model-format.md, "Schema 2").
//!
//! A model is only constructed through [`EquationModel::from_json`], which re-derives what an
//! engine relies on instead of trusting the file: each term's proven range (so a code never
//! saturates), the integer weights and biases against the declared coefficients, the exact
//! accumulator bounds, the weight digits of a model with several encrypted outputs (each
//! output's exact bounds), the two encryption limits per output (plaintext range, weight mass),
//! the index range and the table against the link.

mod document;
mod pipeline;
mod stored;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

pub use document::{
    CategoryBand, Eligibility, Encoding, EquationModelDocument, IndexPart, LinearPart,
    OutputBounds, OutputPart, TermEncoding,
};
pub use pipeline::{EncodedPatient, EquationTrace};
pub use stored::StoredInputsError;

use crate::domain::equation::{Equation, Link};
use crate::domain::model::ModelError;

/// The schema version this module reads.
pub const EQUATION_SCHEMA_VERSION: u32 = 2;
/// The group slot of the patient's group holds `2^GROUP_CODE_BITS` (as does a yes/no term's
/// "yes"); its weight is `bias · 2^(weight_bits − GROUP_CODE_BITS)`, an exact integer.
pub const GROUP_CODE_BITS: u32 = 10;
/// Each encrypted output's plaintext space: its `acc_max − acc_min < 2^PLAINTEXT_BITS` (with
/// one output, the accumulator's).
pub const PLAINTEXT_BITS: u32 = 27;
/// Largest sum of |weight| over every slot of one encrypted output: its noise grows with it
/// (at most `mass · 2^17 < 2^36`).
pub const MAX_SLOT_WEIGHT_MASS: i64 = 1 << 18;
/// Most encrypted outputs (weight digits) of one model.
pub const MAX_OUTPUTS: usize = 8;
/// Widest weight digit `k` (a lower digit is below `2^k`).
pub const MAX_DIGIT_BITS: u32 = 18;
/// The output table has at most `2^MAX_INDEX_BITS` entries.
pub const MAX_INDEX_BITS: u32 = 18;
/// Index bits below the weights' fraction: `shift = weight_bits + INDEX_SHIFT`, one index bin
/// is `2^(INDEX_SHIFT − grain_bits)` of the linear sum.
pub const INDEX_SHIFT: u32 = 2;
/// Most coefficient sets (each brings one slot per encoded term and a group slot).
pub const MAX_GROUPS: usize = 4;
/// Widest term code.
pub const MAX_TERM_BITS: u32 = 20;
/// Largest |weight| read before the slot weight mass is checked (keeps the checks' arithmetic
/// far inside i64).
pub const MAX_ABS_WEIGHT: i64 = 1 << 40;

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ModelError {
    ModelError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A validated schema-2 model.
#[derive(Clone, Debug)]
pub struct EquationModel {
    doc: EquationModelDocument,
    /// For each encoded term, its position among the equation's terms.
    term_index: Vec<usize>,
}

/// The largest code a term's encoding gives (its range maximum's): what a valid patient's code
/// never exceeds.
pub fn max_code(term: &TermEncoding) -> u32 {
    pipeline::quantize(term.max, term.min, term.max, term.step, term.bits)
}

/// `w` as `outputs` base-`2^k` digits, lowest first: `w = Σ_j d_j · 2^(k·j)`, the lower digits
/// in `[0, 2^k)`, the top one `w >> (k·(outputs − 1))` (arithmetic shift: it carries the sign).
/// One output: `[w]`. (`k` at most 62; a shift past 63 bits gives the sign, as it would on
/// an unbounded integer.)
pub fn weight_digits(w: i64, k: u32, outputs: usize) -> Vec<i64> {
    let shr = |s: u64| w >> s.min(63);
    let mask = (1i64 << k.min(62)) - 1;
    let lower = outputs.saturating_sub(1) as u64;
    (0..lower)
        .map(|j| shr(u64::from(k) * j) & mask)
        .chain([shr(u64::from(k) * lower)])
        .collect()
}

impl EquationModel {
    /// Parse and fully validate a schema-2 `model.json`.
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        let doc: EquationModelDocument =
            serde_json::from_str(text).map_err(|e| ModelError::Malformed(e.to_string()))?;
        Self::from_document(doc)
    }

    /// Validate an already parsed document.
    pub fn from_document(doc: EquationModelDocument) -> Result<Self, ModelError> {
        if doc.schema_version != EQUATION_SCHEMA_VERSION {
            return Err(ModelError::UnsupportedSchema {
                found: doc.schema_version,
                expected: EQUATION_SCHEMA_VERSION,
            });
        }
        if doc.model_id.is_empty() {
            return Err(invalid("model_id", "must not be empty"));
        }
        doc.equation
            .validate()
            .map_err(|e| invalid("equation", e.to_string()))?;
        let term_index = check_encoding(&doc)?;
        let model = EquationModel { doc, term_index };
        model.check_eligibility()?;
        model.check_linear()?;
        model.check_index()?;
        model.check_output()?;
        Ok(model)
    }

    /// The file's contents.
    pub fn document(&self) -> &EquationModelDocument {
        &self.doc
    }

    /// Model id.
    pub fn id(&self) -> &str {
        &self.doc.model_id
    }

    /// Release number.
    pub fn version(&self) -> u64 {
        self.doc.version
    }

    /// This release: id and version.
    pub fn model_ref(&self) -> crate::domain::model_ref::ModelRef {
        crate::domain::model_ref::ModelRef::new(self.id(), self.version())
    }

    /// The exact equation.
    pub fn equation(&self) -> &Equation {
        &self.doc.equation
    }

    /// Who may be screened.
    pub fn eligibility(&self) -> &Eligibility {
        &self.doc.eligibility
    }

    /// The encoded terms.
    pub fn encoded_terms(&self) -> &[TermEncoding] {
        &self.doc.encoding.terms
    }

    /// The linear part.
    pub fn linear(&self) -> &LinearPart {
        &self.doc.linear
    }

    /// The index rule.
    pub fn index(&self) -> &IndexPart {
        &self.doc.index
    }

    /// The output table and categories.
    pub fn output(&self) -> &OutputPart {
        &self.doc.output
    }

    /// Number of coefficient sets (groups).
    pub fn group_count(&self) -> usize {
        self.doc.equation.groups.len()
    }

    /// D: the number of encrypted outputs (weight digits); 1 for a model without
    /// `linear.outputs`.
    pub fn output_count(&self) -> usize {
        self.doc.linear.outputs.as_ref().map_or(1, Vec::len)
    }

    /// k: the weight digit width (0 with one output, whose one digit is the whole weight).
    pub fn weight_digit_bits(&self) -> u32 {
        self.doc.linear.weight_digit_bits.unwrap_or(0)
    }

    /// Per output `j`, digit `j` of every slot weight, in [`Self::slot_weights`] order: with
    /// [`Self::slot_values`], `A_j = Σ weight · value`, and `acc = Σ_j 2^(k·j) · A_j`
    /// ([`Self::recombine`]). One output: the slot weights themselves.
    pub fn output_weights(&self) -> Vec<Vec<i64>> {
        let (k, outputs) = (self.weight_digit_bits(), self.output_count());
        let digits: Vec<Vec<i64>> = self
            .slot_weights()
            .into_iter()
            .map(|w| weight_digits(w, k, outputs))
            .collect();
        (0..outputs)
            .map(|j| digits.iter().map(|d| d[j]).collect())
            .collect()
    }

    /// Each output's exact bounds `(min, max)` over every valid patient of every group (with
    /// one output, the accumulator's).
    pub fn output_bounds(&self) -> Vec<(i64, i64)> {
        match &self.doc.linear.outputs {
            Some(outputs) => outputs.iter().map(|o| (o.acc_min, o.acc_max)).collect(),
            None => vec![(self.doc.linear.acc_min, self.doc.linear.acc_max)],
        }
    }

    /// Every output `A_j` of one patient (without offsets): what output `j` decrypts to,
    /// minus its offset `−bounds[j].0`.
    pub fn output_values(&self, patient: &EncodedPatient) -> Vec<i64> {
        let values = self.slot_values(patient);
        self.output_weights()
            .iter()
            .map(|row| {
                row.iter()
                    .zip(&values)
                    .map(|(&w, &v)| w.saturating_mul(i64::try_from(v).unwrap_or(i64::MAX)))
                    .fold(0i64, i64::saturating_add)
            })
            .collect()
    }

    /// `acc = Σ_j 2^(k·j) · A_j` (saturating: a loaded model's outputs never come near).
    pub fn recombine(&self, outputs: &[i64]) -> i64 {
        let k = self.weight_digit_bits();
        outputs
            .iter()
            .enumerate()
            .map(|(j, &a)| a.saturating_mul(1i64 << (k * j as u32)))
            .fold(0i64, i64::saturating_add)
    }

    /// The slot weights, group-major: for every group `g`, `[W_g0, …, W_g(n−1), bias_g ·
    /// 2^(weight_bits − group_code_bits)]` (`groups · (terms + 1)` of them). With
    /// [`Self::slot_values`], `Σ weight · value` is the accumulator.
    pub fn slot_weights(&self) -> Vec<i64> {
        let linear = &self.doc.linear;
        let up = self.group_slot_scale();
        linear
            .weights
            .iter()
            .zip(&linear.bias)
            .flat_map(|(row, &b)| row.iter().copied().chain([b.saturating_mul(up)]))
            .collect()
    }

    /// The slot values of one patient, in [`Self::slot_weights`] order: the patient's group
    /// holds its codes and `2^group_code_bits`, every other group zeros.
    pub fn slot_values(&self, patient: &EncodedPatient) -> Vec<u64> {
        let terms = self.term_index.len();
        let group = self.clamped_group(patient.group);
        let code = 1u64 << self.doc.linear.group_code_bits;
        (0..self.group_count())
            .flat_map(|g| {
                (0..=terms).map(move |k| match (g == group, k == terms) {
                    (false, _) => 0,
                    (true, true) => code,
                    (true, false) => patient.codes.get(k).copied().map_or(0, u64::from),
                })
            })
            .collect()
    }

    /// Σ |slot weight| over every slot (saturating): at most [`MAX_SLOT_WEIGHT_MASS`] for a
    /// loaded model.
    pub fn slot_weight_mass(&self) -> i64 {
        let linear = &self.doc.linear;
        let up = self.group_slot_scale();
        let mass = linear
            .weights
            .iter()
            .flatten()
            .copied()
            .chain(linear.bias.iter().map(|b| b.saturating_mul(up)))
            .fold(0u64, |sum, w| sum.saturating_add(w.unsigned_abs()));
        i64::try_from(mass).unwrap_or(i64::MAX)
    }

    /// `2^(weight_bits − group_code_bits)` (1 if the file's widths are inconsistent; such a
    /// file is refused on load).
    fn group_slot_scale(&self) -> i64 {
        let linear = &self.doc.linear;
        linear
            .weight_bits
            .checked_sub(linear.group_code_bits)
            .and_then(|up| 1i64.checked_shl(up))
            .unwrap_or(1)
    }

    /// The group an engine uses for `group` (the last one for an out-of-range index, which
    /// [`Self::encode`] never makes).
    pub(crate) fn clamped_group(&self, group: usize) -> usize {
        group.min(self.group_count().saturating_sub(1))
    }

    /// The exact bounds of `Σ weight · slot value` for slot weights `weights` (group-major,
    /// as [`Self::slot_weights`]): per group, its group slot's weight times `2^group_code_bits`
    /// plus each term slot's extreme product `W · q` over `q ∈ [0, max code]`; then the
    /// extremes over the groups. In i128: only called once every weight is at most
    /// [`MAX_ABS_WEIGHT`] (no overflow).
    fn derived_bounds(&self, weights: &[i64]) -> (i128, i128) {
        let tops: Vec<i128> = self
            .encoded_terms()
            .iter()
            .map(|t| i128::from(max_code(t)))
            .collect();
        let group_code = 1i128 << self.doc.linear.group_code_bits;
        let mut bounds: Option<(i128, i128)> = None;
        for group in weights.chunks(tops.len() + 1) {
            let (terms, slot) = group.split_at(group.len() - 1);
            let base = slot.first().map_or(0, |&w| i128::from(w) * group_code);
            let products = terms
                .iter()
                .zip(&tops)
                .map(|(&w, &top)| i128::from(w) * top);
            let lo = base + products.clone().map(|x| x.min(0)).sum::<i128>();
            let hi = base + products.map(|x| x.max(0)).sum::<i128>();
            bounds = Some(bounds.map_or((lo, hi), |(l, h)| (l.min(lo), h.max(hi))));
        }
        bounds.unwrap_or((0, 0))
    }

    fn check_eligibility(&self) -> Result<(), ModelError> {
        let e = &self.doc.eligibility;
        if !(e.min_age.is_finite() && e.max_age.is_finite() && e.min_age <= e.max_age) {
            return Err(invalid(
                "eligibility",
                "the age range must be finite and ordered",
            ));
        }
        match self.doc.equation.input_kind(&e.age_input) {
            Some(crate::domain::equation::InputKind::Number { min, max, .. })
                if *min <= e.min_age && e.max_age <= *max =>
            {
                Ok(())
            }
            _ => Err(invalid(
                "eligibility.age_input",
                "must name a numeric input whose range holds the eligible ages",
            )),
        }
    }

    fn check_linear(&self) -> Result<(), ModelError> {
        let linear = &self.doc.linear;
        let groups = &self.doc.equation.groups;
        if groups.len() > MAX_GROUPS {
            return Err(invalid(
                "equation.groups",
                format!("at most {MAX_GROUPS} coefficient sets"),
            ));
        }
        if !(1..=16).contains(&linear.grain_bits) || linear.weight_bits > 24 {
            return Err(invalid(
                "linear",
                "grain_bits must be 1-16 and weight_bits at most 24",
            ));
        }
        if linear.group_code_bits != GROUP_CODE_BITS || linear.group_code_bits > linear.weight_bits
        {
            return Err(invalid(
                "linear.group_code_bits",
                format!("must be {GROUP_CODE_BITS}, at most weight_bits"),
            ));
        }
        if linear.weights.len() != groups.len() || linear.bias.len() != groups.len() {
            return Err(invalid(
                "linear",
                "one weight row and one bias per coefficient set",
            ));
        }
        let scale = f64::powi(2.0, (linear.grain_bits + linear.weight_bits) as i32);
        let grain = f64::powi(2.0, linear.grain_bits as i32);
        let ranges = self
            .doc
            .equation
            .term_intervals()
            .map_err(|e| invalid("equation.terms", e.to_string()))?;
        for (g, (row, group)) in linear.weights.iter().zip(groups).enumerate() {
            if row.len() != self.term_index.len() {
                return Err(invalid(
                    format!("linear.weights[{g}]"),
                    "one weight per encoded term",
                ));
            }
            let mut bias = 0.0;
            let mut encoded = self.term_index.iter().zip(self.encoded_terms()).peekable();
            for (i, (lo, _)) in ranges.iter().enumerate() {
                let c = group.coefficients[i];
                match encoded.peek() {
                    Some((&ti, e)) if ti == i => {
                        bias += c * e.min;
                        encoded.next();
                    }
                    _ => bias += c * lo,
                }
            }
            bias += link_offset(&self.doc.equation, g);
            let expected_bias = (bias * grain).round() as i64;
            if linear.bias[g].abs_diff(expected_bias) > 1 {
                return Err(invalid(
                    format!("linear.bias[{g}]"),
                    "does not match the equation's constant terms and the term ranges",
                ));
            }
            for (k, (&w, (&ti, e))) in row
                .iter()
                .zip(self.term_index.iter().zip(self.encoded_terms()))
                .enumerate()
            {
                let expected = (group.coefficients[ti] * e.step * scale).round() as i64;
                if w.unsigned_abs() > MAX_ABS_WEIGHT.unsigned_abs() || w.abs_diff(expected) > 1 {
                    return Err(invalid(
                        format!("linear.weights[{g}][{k}]"),
                        format!(
                            "does not match the coefficient of `{}` times its step",
                            e.term
                        ),
                    ));
                }
            }
        }
        let up = self.group_slot_scale();
        for (g, &b) in linear.bias.iter().enumerate() {
            if b.checked_mul(up)
                .is_none_or(|w| w.unsigned_abs() > MAX_ABS_WEIGHT.unsigned_abs())
            {
                return Err(invalid(
                    format!("linear.bias[{g}]"),
                    "its group slot weight is out of range",
                ));
            }
        }
        let single = self.check_outputs()?;
        if single {
            let mass = self.slot_weight_mass();
            if mass > MAX_SLOT_WEIGHT_MASS {
                return Err(invalid(
                    "linear.weights",
                    format!(
                        "the slot weight mass (sum of |weight| and |bias · 2^(weight_bits - \
                         group_code_bits)|) is {mass}, over {MAX_SLOT_WEIGHT_MASS}"
                    ),
                ));
            }
        }
        let (lo, hi) = self.derived_bounds(&self.slot_weights());
        let limit = 1i128 << 62;
        if lo < -limit || hi > limit {
            return Err(invalid("linear.acc_max", "the accumulator is out of range"));
        }
        if single && hi - lo >= 1i128 << PLAINTEXT_BITS {
            return Err(invalid(
                "linear.acc_max",
                format!(
                    "the accumulator range acc_max - acc_min = {} is not below 2^{PLAINTEXT_BITS}",
                    hi - lo
                ),
            ));
        }
        if (lo, hi) != (i128::from(linear.acc_min), i128::from(linear.acc_max)) {
            return Err(invalid(
                "linear.acc_min",
                format!("the accumulator bounds are {lo}..{hi}, not what the file says"),
            ));
        }
        Ok(())
    }

    /// The weight digits of a model with several encrypted outputs: both fields or neither,
    /// 2 to [`MAX_OUTPUTS`] outputs, `k` in 1..=[`MAX_DIGIT_BITS`]; the digits of every slot
    /// weight recombine to it exactly; per output, the weight mass at most
    /// [`MAX_SLOT_WEIGHT_MASS`] (refused naming `linear.weight_digit_bits`), the exact range
    /// below `2^PLAINTEXT_BITS` (`linear.outputs[j].acc_max`) and the file's bounds equal to the
    /// derived ones. Returns whether the model has a single output (checked by the caller as
    /// the accumulator itself).
    fn check_outputs(&self) -> Result<bool, ModelError> {
        let linear = &self.doc.linear;
        let (k, outputs) = match (linear.weight_digit_bits, &linear.outputs) {
            (None, None) => return Ok(true),
            (Some(k), Some(outputs)) => (k, outputs),
            (None, Some(_)) => {
                return Err(invalid(
                    "linear.weight_digit_bits",
                    "required with linear.outputs",
                ))
            }
            (Some(_), None) => {
                return Err(invalid(
                    "linear.outputs",
                    "required with linear.weight_digit_bits",
                ))
            }
        };
        if !(2..=MAX_OUTPUTS).contains(&outputs.len()) {
            return Err(invalid(
                "linear.outputs",
                format!("2 to {MAX_OUTPUTS} outputs (omit both fields for one)"),
            ));
        }
        if !(1..=MAX_DIGIT_BITS).contains(&k) || k as usize * (outputs.len() - 1) > 48 {
            return Err(invalid(
                "linear.weight_digit_bits",
                format!("must be 1-{MAX_DIGIT_BITS}, with k · (outputs − 1) at most 48"),
            ));
        }
        let weights = self.slot_weights();
        let rows = self.output_weights();
        for (s, &w) in weights.iter().enumerate() {
            let back = rows
                .iter()
                .enumerate()
                .map(|(j, row)| i128::from(row[s]) << (k as usize * j))
                .sum::<i128>();
            if back != i128::from(w) {
                return Err(invalid(
                    "linear.weight_digit_bits",
                    format!("the digits of slot weight {s} do not recombine to it"),
                ));
            }
        }
        for (j, (row, file)) in rows.iter().zip(outputs).enumerate() {
            let mass = row
                .iter()
                .fold(0u64, |sum, w| sum.saturating_add(w.unsigned_abs()));
            if mass > MAX_SLOT_WEIGHT_MASS.unsigned_abs() {
                return Err(invalid(
                    "linear.weight_digit_bits",
                    format!(
                        "output {j}'s weight mass (sum of |digit {j}| over every slot) is \
                         {mass}, over {MAX_SLOT_WEIGHT_MASS}"
                    ),
                ));
            }
            let (lo, hi) = self.derived_bounds(row);
            if hi - lo >= 1i128 << PLAINTEXT_BITS {
                return Err(invalid(
                    format!("linear.outputs[{j}].acc_max"),
                    format!(
                        "output {j}'s range acc_max - acc_min = {} is not below \
                         2^{PLAINTEXT_BITS}",
                        hi - lo
                    ),
                ));
            }
            for (name, derived, given) in
                [("acc_min", lo, file.acc_min), ("acc_max", hi, file.acc_max)]
            {
                if derived != i128::from(given) {
                    return Err(invalid(
                        format!("linear.outputs[{j}].{name}"),
                        format!("output {j}'s bounds are {lo}..{hi}, not what the file says"),
                    ));
                }
            }
        }
        Ok(false)
    }

    fn check_index(&self) -> Result<(), ModelError> {
        let index = &self.doc.index;
        let linear = &self.doc.linear;
        if index.offset != -linear.acc_min {
            return Err(invalid("index.offset", "must be -acc_min"));
        }
        if index.shift != linear.weight_bits + INDEX_SHIFT {
            return Err(invalid(
                "index.shift",
                format!("must be weight_bits + {INDEX_SHIFT}"),
            ));
        }
        let top = (i128::from(linear.acc_max) + i128::from(index.offset)) >> index.shift;
        if i128::from(index.max) != top {
            return Err(invalid("index.max", format!("must be {top}")));
        }
        if top >= 1 << MAX_INDEX_BITS {
            return Err(invalid(
                "index.max",
                format!("at most {MAX_INDEX_BITS} index bits"),
            ));
        }
        Ok(())
    }

    fn check_output(&self) -> Result<(), ModelError> {
        let out = &self.doc.output;
        if out.probability_scale == 0 {
            return Err(invalid("output.probability_scale", "must be positive"));
        }
        if out.table.len() != self.doc.index.max as usize + 1 {
            return Err(invalid("output.table", "needs one entry per index"));
        }
        if out.table.windows(2).any(|w| w[0] > w[1]) {
            return Err(invalid("output.table", "must be non-decreasing"));
        }
        let scale = f64::from(out.probability_scale);
        for (idx, &p) in out.table.iter().enumerate() {
            let expected = (self.link_at_bin_centre(idx as u32) * scale + 0.5).floor();
            if (f64::from(p) - expected).abs() > 1.0 {
                return Err(invalid(
                    format!("output.table[{idx}]"),
                    "is not the link at the index bin's centre",
                ));
            }
        }
        let mut names = BTreeSet::new();
        let mut previous = 0u32;
        for (k, band) in out.categories.iter().enumerate() {
            let last = k + 1 == out.categories.len();
            match (band.below, last) {
                (None, true) => {}
                (Some(b), false) if b > previous && b <= out.probability_scale => previous = b,
                _ => {
                    return Err(invalid(
                        format!("output.categories[{k}].below"),
                        "bands must rise and only the last may be open",
                    ))
                }
            }
            if band.name.is_empty() || !names.insert(band.name.as_str()) {
                return Err(invalid(
                    format!("output.categories[{k}].name"),
                    "empty or repeated",
                ));
            }
        }
        if out.categories.is_empty() {
            return Err(invalid("output.categories", "at least one band"));
        }
        Ok(())
    }

    /// The inputs as feature descriptions, in input order, for reading a stored row's
    /// values back (history, export): a choice input as an ordinal of its levels (the row
    /// stores the level's position), a measurement with its unit and published range.
    pub fn input_features(&self) -> Vec<crate::domain::feature::FeatureSpec> {
        use crate::domain::equation::InputKind;
        use crate::domain::feature::{FeatureKind, FeatureSpec};
        self.doc
            .equation
            .inputs
            .iter()
            .map(|input| {
                let (kind, unit, min, max, answers) = match &input.kind {
                    InputKind::Number { unit, min, max } => (
                        FeatureKind::Continuous,
                        unit.clone(),
                        *min,
                        *max,
                        Vec::new(),
                    ),
                    InputKind::Binary => (FeatureKind::Binary, String::new(), 0.0, 1.0, Vec::new()),
                    InputKind::Choice { levels } => (
                        FeatureKind::Ordinal,
                        String::new(),
                        0.0,
                        levels.len().saturating_sub(1) as f64,
                        levels.clone(),
                    ),
                };
                FeatureSpec {
                    name: input.name.clone(),
                    unit,
                    kind,
                    description: crate::domain::clinic_columns::clinic_column_description(
                        &input.name,
                    )
                    .unwrap_or_default()
                    .to_string(),
                    plausible_min: min,
                    plausible_max: max,
                    clamp_min: min,
                    clamp_max: max,
                    bits: 1,
                    answers,
                    counts_from: None,
                }
            })
            .collect()
    }

    /// The link at the centre of index bin `idx` (what `output.table` must hold, scaled).
    pub fn link_at_bin_centre(&self, idx: u32) -> f64 {
        let index = &self.doc.index;
        let width = (1i64 << index.shift) as f64;
        let centre = (f64::from(idx) * width - index.offset as f64 + (width - 1.0) / 2.0)
            / f64::powi(
                2.0,
                (self.doc.linear.grain_bits + self.doc.linear.weight_bits) as i32,
            );
        shared_link(self.doc.equation.link, centre)
    }
}

/// What is added to group `g`'s linear sum so that one link serves every group: 0 for the
/// logistic link; `ln(−ln S0) − mean` for the baseline-survival link, since
/// `1 − S0^e^(x − mean) = 1 − e^(−e^(x − mean + ln(−ln S0)))`.
pub fn link_offset(equation: &Equation, g: usize) -> f64 {
    match equation.link {
        Link::Logistic => 0.0,
        Link::BaselineSurvival => {
            let group = &equation.groups[g];
            let s0 = group.baseline_survival.unwrap_or(0.5);
            (-s0.ln()).ln() - group.mean_sum.unwrap_or(0.0)
        }
    }
}

/// The link shared by every group, applied to an offset linear sum (see [`link_offset`]).
pub fn shared_link(link: Link, z: f64) -> f64 {
    match link {
        Link::Logistic => 1.0 / (1.0 + (-z).exp()),
        Link::BaselineSurvival => -(-z.exp()).exp_m1(),
    }
}

/// Each encoded term names an equation term (in term order, once), covers the term's proven
/// range, and its code covers `[min, max]`; every other term is constant or unused.
fn check_encoding(doc: &EquationModelDocument) -> Result<Vec<usize>, ModelError> {
    let eq = &doc.equation;
    let ranges = eq
        .term_intervals()
        .map_err(|e| invalid("equation.terms", e.to_string()))?;
    let mut index = Vec::with_capacity(doc.encoding.terms.len());
    for (k, e) in doc.encoding.terms.iter().enumerate() {
        let field = |f: &str| format!("encoding.terms[{k}].{f}");
        let Some(i) = eq.terms.iter().position(|t| t.name == e.term) else {
            return Err(invalid(field("term"), "is not a term of the equation"));
        };
        if index.last().is_some_and(|&last| last >= i) {
            return Err(invalid(
                field("term"),
                "terms must be in the equation's order, once each",
            ));
        }
        if !(1..=MAX_TERM_BITS).contains(&e.bits) {
            return Err(invalid(field("bits"), format!("must be 1-{MAX_TERM_BITS}")));
        }
        if !(e.step.is_finite() && e.step > 0.0 && e.min.is_finite() && e.max.is_finite()) {
            return Err(invalid(
                field("step"),
                "must be positive and finite, with a finite range",
            ));
        }
        let (lo, hi) = ranges[i];
        let slack = 1e-9 * (1.0 + lo.abs().max(hi.abs()));
        if e.min > lo + slack || e.max < hi - slack {
            return Err(invalid(
                field("min"),
                "the range does not cover the term's proven range",
            ));
        }
        let reach = e.min + e.step * (((1u64 << e.bits) - 1) as f64);
        if reach < e.max - slack {
            return Err(invalid(
                field("step"),
                "the code cannot reach the range's top",
            ));
        }
        index.push(i);
    }
    for (i, (lo, hi)) in ranges.iter().enumerate() {
        let unused = eq.groups.iter().all(|g| g.coefficients[i] == 0.0);
        if !index.contains(&i) && lo != hi && !unused {
            return Err(invalid(
                "encoding.terms",
                format!("`{}` varies but is not encoded", eq.terms[i].name),
            ));
        }
    }
    Ok(index)
}
