//! Steps 2-6 of the schema-2 integer pipeline: the client's encoding, the linear part and
//! index (the linear part is what the evaluator computes under encryption), and the reading of
//! the signed table. `training/equation_model.py` is the Python twin; golden vectors hold them
//! together.

use super::EquationModel;
use crate::domain::equation::Inputs;

/// What the client encrypts for one patient: the group and every encoded term's code (the
/// slots of [`EquationModel::slot_values`]). Holds patient-derived values, so `Debug` shows
/// only sizes.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedPatient {
    /// Which coefficient set applies (never sent in the clear).
    pub group: usize,
    /// Every encoded term's code, in encoding order.
    pub codes: Vec<u32>,
}

impl std::fmt::Debug for EncodedPatient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncodedPatient {{ {} codes }}", self.codes.len())
    }
}

/// Every intermediate of one reference run (for golden vectors and the result check).
#[derive(Clone, PartialEq, Eq)]
pub struct EquationTrace {
    /// The coefficient set.
    pub group: usize,
    /// Each encoded term's code.
    pub codes: Vec<u32>,
    /// The linear sum in accumulator units (2^-(grain_bits + weight_bits)).
    pub acc: i64,
    /// Each encrypted output `A_j` (without its offset): `acc = Σ_j 2^(k·j) · A_j`; with one
    /// output, `[acc]`.
    pub outputs: Vec<i64>,
    /// The index into the output table.
    pub index: u32,
    /// The probability, in table units.
    pub probability: u32,
    /// The category's position among the bands.
    pub category: usize,
}

impl std::fmt::Debug for EquationTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EquationTrace { .. }")
    }
}

/// Step 2 for one term value.
pub fn quantize(value: f64, min: f64, max: f64, step: f64, bits: u32) -> u32 {
    let top = (1u64 << bits) - 1;
    let q = ((value.max(min).min(max) - min) / step + 0.5).floor();
    (q.max(0.0) as u64).min(top) as u32
}

impl EquationModel {
    /// Steps 1-2 on the client: the group and the term codes.
    pub fn encode(&self, inputs: &Inputs) -> EncodedPatient {
        let eq = self.equation();
        let values = eq.term_values(inputs);
        let group = eq
            .groups
            .iter()
            .position(|g| std::ptr::eq(g, eq.group(inputs)))
            .unwrap_or(0);
        let codes = self
            .encoded_terms()
            .iter()
            .zip(&self.term_index)
            .map(|(e, &ti)| quantize(values[ti], e.min, e.max, e.step, e.bits))
            .collect();
        EncodedPatient { group, codes }
    }

    /// Step 3, exact: `bias_g · 2^P + Σ W_gi · q_i` in units of 2^-(G+P) — equal to
    /// `Σ slot_weights · slot_values` (what the evaluator computes under encryption).
    pub fn accumulate(&self, patient: &EncodedPatient) -> i64 {
        let linear = self.linear();
        let g = self.clamped_group(patient.group);
        let acc = linear.bias[g] * (1i64 << linear.weight_bits);
        acc + linear.weights[g]
            .iter()
            .zip(&patient.codes)
            .map(|(&w, &q)| w * i64::from(q))
            .sum::<i64>()
    }

    /// Step 4.
    pub fn index_of(&self, acc: i64) -> u32 {
        let index = self.index();
        ((acc + index.offset) >> index.shift).clamp(0, i64::from(index.max)) as u32
    }

    /// Steps 5-6 for a decrypted index: the probability (table units) and the category's
    /// position; `None` for an index the table does not have (a malformed result).
    pub fn read(&self, index: u32) -> Option<(u32, usize)> {
        let p = *self.output().table.get(index as usize)?;
        Some((p, self.category_of(p)))
    }

    /// The band a probability (table units) falls in.
    pub fn category_of(&self, p: u32) -> usize {
        let bands = &self.output().categories;
        bands
            .iter()
            .position(|b| b.below.is_none_or(|below| p < below))
            .unwrap_or(bands.len() - 1)
    }

    /// Steps 2-6 in the clear: the reference every encrypted result is checked against.
    pub fn run(&self, inputs: &Inputs) -> EquationTrace {
        let encoded = self.encode(inputs);
        let acc = self.accumulate(&encoded);
        let outputs = self.output_values(&encoded);
        let index = self.index_of(acc);
        let (probability, category) = self.read(index).unwrap_or((0, 0));
        EquationTrace {
            group: encoded.group,
            codes: encoded.codes,
            acc,
            outputs,
            index,
            probability,
            category,
        }
    }
}
