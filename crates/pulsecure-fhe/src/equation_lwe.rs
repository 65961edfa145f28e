//! The encrypted linear part of a schema-2 model, shared by its client and its evaluator.
//!
//! A published equation is linear up to its link, and the link is read by the data owner
//! after decryption (docs/model-format.md). A linear map needs no bootstrapping: LWE is
//! linearly homomorphic. The client encrypts one **slot** per (coefficient set, encoded term)
//! and one group slot per coefficient set — the term code, or `GROUP_CODE`, in the patient's
//! own set, and 0 in every other set — as seeded LWE ciphertexts under the client key's own
//! encryption key and noise distribution (tfhe's fresh-encryption key, 128-bit security). The
//! evaluator multiplies each slot by its public integer weight and adds them up: the
//! patient's accumulator for the patient's coefficient set, without learning which set that
//! is. The client decrypts it exactly.
//!
//! **Several outputs.** A model whose accumulator does not fit one plaintext (the 2013 PCE)
//! splits every slot weight into `D` base-`2^k` digits (`weight_digit_bits`, `outputs` in the
//! model): the evaluator computes one sum per digit, `A_j + offset_j = Σ W_j · slot +
//! offset_j`, as `D` ciphertexts of the same slots; the client decrypts each, subtracts its
//! offset and recombines `acc = Σ_j 2^(k·j) · A_j`, then checks `acc` against the model's
//! bounds (and, in the app, against the reference engine). A single-output model (PREVENT) is
//! `D = 1`: the one sum is the accumulator.
//!
//! Correctness is proven, not estimated, per output: the plaintext is
//! `value · 2^(64 − PLAINTEXT_BITS)`; each fresh encryption's noise is drawn from a
//! tweaked-uniform distribution bounded by `2^b` (b = 17 for both parameter sets), so output
//! `j`'s noise is at most `Σ |W_j| · 2^b`, which [`LinearMap::compile`] requires to be below
//! half a plaintext step, and `A_j + offset_j` is below `2^PLAINTEXT_BITS` (the model
//! loader's check). No failure probability is involved.

use tfhe::core_crypto::prelude::{CiphertextModulus, DynamicDistribution, LweDimension};

use pulsecure_core::domain::equation_model::{EquationModel, PLAINTEXT_BITS};
use pulsecure_core::ports::fhe::FheError;

use crate::params::{EARLIER_PARAMETERS, MAX_BLOCKS, PARAMETERS};

/// log2 of the plaintext scaling: a value `v` is encrypted as `v · 2^DELTA_BITS`.
pub const DELTA_BITS: u32 = 64 - PLAINTEXT_BITS;

/// One encrypted output: its public integer weight per slot (digit `j` of every slot weight),
/// the offset the evaluator adds, its largest value and its proven noise bound.
#[derive(Clone, Debug)]
pub struct OutputMap {
    weights: Vec<i64>,
    offset: i64,
    /// Largest `A_j + offset_j` a valid patient reaches (below `2^PLAINTEXT_BITS`).
    top: u64,
    noise_bound: u64,
}

impl OutputMap {
    /// The public weight of every slot, in request order.
    pub fn weights(&self) -> &[i64] {
        &self.weights
    }

    /// The constant the evaluator adds (`−min A_j`), making the output non-negative.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Largest `A_j + offset_j` a valid patient reaches.
    pub fn top(&self) -> u64 {
        self.top
    }

    /// Largest |noise| a correctly computed output can carry: `Σ |weight| · 2^b`.
    pub fn noise_bound(&self) -> u64 {
        self.noise_bound
    }

    /// `Σ |weight|` over every slot.
    pub fn weight_mass(&self) -> u64 {
        self.weights.iter().map(|w| w.unsigned_abs()).sum()
    }
}

/// The linear map of one model: one [`OutputMap`] per encrypted output, how they recombine,
/// and the accumulator's bounds and index offset.
#[derive(Clone, Debug)]
pub struct LinearMap {
    outputs: Vec<OutputMap>,
    digit_bits: u32,
    acc_min: i64,
    acc_max: i64,
    /// The index offset `−acc_min`.
    offset: i64,
    noise_log2: u32,
    dimension: LweDimension,
}

/// Bound `b` of the fresh-encryption noise `[-2^b, 2^b]`, if the distribution is bounded.
pub fn noise_bound_log2(distribution: DynamicDistribution<u64>) -> Option<u32> {
    match distribution {
        DynamicDistribution::TUniform(t) => Some(t.bound_log2()),
        DynamicDistribution::Gaussian(_) => None,
    }
}

fn mismatch(reason: impl Into<String>) -> FheError {
    FheError::Mismatch {
        what: "model",
        reason: reason.into(),
    }
}

impl LinearMap {
    /// The map of `model`, with the proof that every result decrypts exactly under the
    /// parameter sets this build reads (the evaluator does not know which one a client's key
    /// uses: the bound must hold for both).
    pub fn compile(model: &EquationModel) -> Result<Self, FheError> {
        let noise_log2 = [
            PARAMETERS.glwe_noise_distribution,
            EARLIER_PARAMETERS.glwe_noise_distribution,
        ]
        .into_iter()
        .map(noise_bound_log2)
        .try_fold(0u32, |acc, b| b.map(|b| acc.max(b)))
        .ok_or_else(|| mismatch("the parameter set's fresh noise is not bounded"))?;
        let dimension = PARAMETERS
            .glwe_dimension
            .to_equivalent_lwe_dimension(PARAMETERS.polynomial_size);
        let earlier = EARLIER_PARAMETERS
            .glwe_dimension
            .to_equivalent_lwe_dimension(EARLIER_PARAMETERS.polynomial_size);
        if dimension != earlier {
            return Err(mismatch(
                "the parameter sets' encryption keys differ in size",
            ));
        }
        let slots = model.group_count() * (model.encoded_terms().len() + 1);
        if slots > MAX_BLOCKS {
            return Err(mismatch(format!(
                "{slots} slots: a request carries at most {MAX_BLOCKS}"
            )));
        }
        let outputs = model
            .output_weights()
            .into_iter()
            .zip(model.output_bounds())
            .enumerate()
            .map(|(j, (weights, (lo, hi)))| {
                let mass = weights
                    .iter()
                    .try_fold(0u64, |acc, w| acc.checked_add(w.unsigned_abs()))
                    .ok_or_else(|| mismatch("slot weights overflow"))?;
                let noise_bound = mass
                    .checked_mul(1u64 << noise_log2)
                    .filter(|&b| b < 1u64 << (DELTA_BITS - 1))
                    .ok_or_else(|| {
                        mismatch(format!(
                            "output {j}'s noise bound is not below half a plaintext step"
                        ))
                    })?;
                let top = hi
                    .checked_sub(lo)
                    .and_then(|t| u64::try_from(t).ok())
                    .filter(|&t| t < 1u64 << PLAINTEXT_BITS)
                    .ok_or_else(|| {
                        mismatch(format!("output {j} does not fit the plaintext space"))
                    })?;
                Ok(OutputMap {
                    weights,
                    offset: -lo,
                    top,
                    noise_bound,
                })
            })
            .collect::<Result<Vec<_>, FheError>>()?;
        let linear = model.linear();
        Ok(LinearMap {
            outputs,
            digit_bits: model.weight_digit_bits(),
            acc_min: linear.acc_min,
            acc_max: linear.acc_max,
            offset: model.index().offset,
            noise_log2,
            dimension,
        })
    }

    /// Slots per request: one per coefficient set and encoded term, plus one group slot per set.
    pub fn slots(&self) -> usize {
        self.outputs.first().map_or(0, |o| o.weights.len())
    }

    /// The encrypted outputs, in response order (one for a single-output model).
    pub fn outputs(&self) -> &[OutputMap] {
        &self.outputs
    }

    /// k: output `j` counts `2^(k·j)` accumulator units (0 with one output).
    pub fn digit_bits(&self) -> u32 {
        self.digit_bits
    }

    /// The index offset (`-acc_min`): what [`Self::recombine`] adds to the accumulator.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Largest `acc + offset` a valid patient reaches.
    pub fn top(&self) -> u64 {
        (self.acc_max - self.acc_min).unsigned_abs()
    }

    /// `b`: the proof assumes every fresh encryption's noise is within `[-2^b, 2^b]`.
    pub fn noise_log2(&self) -> u32 {
        self.noise_log2
    }

    /// The largest noise bound over the outputs.
    pub fn noise_bound(&self) -> u64 {
        self.outputs
            .iter()
            .map(|o| o.noise_bound)
            .max()
            .unwrap_or(0)
    }

    /// The accumulator plus the index offset (`acc + offset`) from each output's decrypted
    /// value (`A_j + offset_j`, already checked against its `top`): subtract each output's
    /// offset, recombine `acc = Σ_j 2^(k·j) · A_j` and refuse an accumulator outside the
    /// model's bounds (`None`).
    pub fn recombine(&self, values: &[u64]) -> Option<u64> {
        if values.len() != self.outputs.len() {
            return None;
        }
        let acc = values
            .iter()
            .zip(&self.outputs)
            .enumerate()
            .map(|(j, (&v, o))| {
                (i128::from(v) - i128::from(o.offset)) << (self.digit_bits as usize * j)
            })
            .sum::<i128>();
        if !(i128::from(self.acc_min)..=i128::from(self.acc_max)).contains(&acc) {
            return None;
        }
        u64::try_from(acc + i128::from(self.offset)).ok()
    }

    /// Dimension of the LWE encryption key (the client key's GLWE key seen as LWE).
    pub fn dimension(&self) -> LweDimension {
        self.dimension
    }

    /// The ciphertext modulus (native 2^64).
    pub fn modulus() -> CiphertextModulus<u64> {
        CiphertextModulus::new_native()
    }

    /// `v · 2^DELTA_BITS`: the plaintext of value `v`.
    pub fn encode(value: u64) -> u64 {
        value << DELTA_BITS
    }

    /// Round a decrypted plaintext to its value; also returns the distance to it (the noise).
    pub fn decode(plaintext: u64) -> (u64, u64) {
        let value = plaintext.wrapping_add(1u64 << (DELTA_BITS - 1)) >> DELTA_BITS;
        let noise = plaintext.wrapping_sub(value << DELTA_BITS) as i64;
        (value, noise.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_rounds_to_the_nearest_value_and_reports_the_noise() {
        let step = 1u64 << DELTA_BITS;
        for value in [0u64, 1, 12_345, (1 << PLAINTEXT_BITS) - 1] {
            for noise in [0i64, 1, -1, (step / 2 - 1) as i64, -((step / 2 - 1) as i64)] {
                let plaintext = LinearMap::encode(value).wrapping_add(noise as u64);
                assert_eq!(
                    LinearMap::decode(plaintext),
                    (value, noise.unsigned_abs()),
                    "{value} {noise}"
                );
            }
        }
    }

    #[test]
    fn both_parameter_sets_draw_bounded_fresh_noise() {
        for d in [
            PARAMETERS.glwe_noise_distribution,
            EARLIER_PARAMETERS.glwe_noise_distribution,
        ] {
            assert_eq!(noise_bound_log2(d), Some(17));
        }
    }
}
