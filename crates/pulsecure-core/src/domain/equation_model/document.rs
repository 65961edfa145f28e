//! The schema-2 `model.json` as it is written: field names and types only. Everything an
//! engine relies on is checked by [`super::EquationModel::from_json`], not here.

use serde::{Deserialize, Serialize};

use crate::domain::equation::Equation;

/// A schema-2 model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EquationModelDocument {
    /// Always 2.
    pub schema_version: u32,
    /// Identity (anti-rollback is per id).
    pub model_id: String,
    /// Release number.
    pub version: u64,
    /// Free text: what the model predicts.
    pub description: String,
    /// The exact published equation (inputs, terms, coefficient sets, link).
    pub equation: Equation,
    /// Who the equation is for.
    pub eligibility: Eligibility,
    /// How each term becomes the integer code the client encrypts.
    pub encoding: Encoding,
    /// The integer linear part the evaluator computes.
    pub linear: LinearPart,
    /// From the accumulator to the index the client decrypts.
    pub index: IndexPart,
    /// From the index to the probability and the category.
    pub output: OutputPart,
}

/// The population an equation was derived for: anyone else gets no estimate
/// (`not_eligible`), which is not an input error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eligibility {
    /// The input that holds the age in years.
    pub age_input: String,
    /// Youngest eligible age.
    pub min_age: f64,
    /// Oldest eligible age.
    pub max_age: f64,
    /// People with known cardiovascular disease (CHD, angina, MI, stroke, heart failure) are
    /// in secondary prevention: no estimate.
    pub excludes_known_cvd: bool,
}

/// The client's quantization of the terms (step 2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encoding {
    /// The encoded terms, in the equation's term order (constant terms are in the bias).
    pub terms: Vec<TermEncoding>,
}

/// One term's code: `q = floor((clamp(t, min, max) − min) / step + 0.5)` on `bits` bits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermEncoding {
    /// The equation term's name.
    pub term: String,
    /// Lower end of the term's proven range.
    pub min: f64,
    /// Upper end of the term's proven range.
    pub max: f64,
    /// Size of one code step.
    pub step: f64,
    /// Code width.
    pub bits: u32,
}

/// The integer linear part (step 3), exact: `acc = bias[g] · 2^P + Σ W[g][i] · q_i`, in units
/// of `2^-(grain_bits + weight_bits)` on the linear-sum scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearPart {
    /// G: the bias's unit is `2^-grain_bits`; each term's quantization error is at most that.
    pub grain_bits: u32,
    /// P: extra fraction bits of the weights (the accumulator's unit is `2^-(G + P)`).
    pub weight_bits: u32,
    /// The group slot holds `2^group_code_bits` (10) for the patient's group; its weight is
    /// `bias[g] · 2^(weight_bits − group_code_bits)`.
    pub group_code_bits: u32,
    /// One row per coefficient set, one integer weight per encoded term:
    /// `round(coefficient · step · 2^(grain_bits + weight_bits))`.
    pub weights: Vec<Vec<i64>>,
    /// One per coefficient set, in units of `2^-grain_bits` (constant terms, each term's range
    /// minimum and the link offset folded in).
    pub bias: Vec<i64>,
    /// Smallest accumulator any valid patient can give (re-derived on load).
    pub acc_min: i64,
    /// Largest accumulator any valid patient can give (re-derived on load).
    pub acc_max: i64,
    /// k, with several encrypted outputs: every slot weight `W` is split into
    /// `D = outputs.len()` base-`2^k` digits, `W = Σ_j W_j · 2^(k·j)`, the lower ones in
    /// `[0, 2^k)`, the top one `W >> (k·(D − 1))` (signed). Absent with one output (the
    /// accumulator itself, as PREVENT's releases are written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_digit_bits: Option<u32>,
    /// Each encrypted output's exact bounds, output `j` being `A_j = Σ W_j · slot value`
    /// (`acc = Σ_j 2^(k·j) · A_j`); absent with one output. Re-derived on load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<OutputBounds>>,
}

/// The exact range of one encrypted output over every valid patient of every group: the
/// evaluator adds `−acc_min` so the decrypted value is never negative.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputBounds {
    /// Smallest value of the output.
    pub acc_min: i64,
    /// Largest value of the output.
    pub acc_max: i64,
}

/// Step 4: `idx = (acc + offset) >> shift`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexPart {
    /// `−acc_min`, so the index is never negative.
    pub offset: i64,
    /// Bits dropped: `weight_bits + 2` (one index bin is `2^-(grain_bits − 2)` of the linear
    /// sum).
    pub shift: u32,
    /// Largest index (`(acc_max + offset) >> shift`).
    pub max: u32,
}

/// Steps 5-6: the signed table and the category bands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputPart {
    /// Units of the table (10000: one unit is 0.01 percentage point).
    pub probability_scale: u32,
    /// `table[idx]`: the link at the centre of index bin `idx`, non-decreasing.
    pub table: Vec<u32>,
    /// Category bands in ascending order; the last one is open.
    pub categories: Vec<CategoryBand>,
}

/// A category: every probability below `below` (and at or above the previous band's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryBand {
    /// Name as results show it (`low`, `borderline`, `intermediate`, `high`).
    pub name: String,
    /// Exclusive upper end in table units; `null` for the last band.
    pub below: Option<u32>,
}
