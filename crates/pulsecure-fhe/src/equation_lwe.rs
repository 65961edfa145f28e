//! The encrypted linear part of a schema-2 model, shared by its client and its evaluator.
//!
//! A published equation is linear up to its link, and the link is read by the data owner
//! after decryption (docs/model-format.md). A linear map needs no bootstrapping: LWE is
//! linearly homomorphic. The client encrypts one **slot** per (coefficient set, encoded term)
//! and one group slot per coefficient set — the term code, or `GROUP_CODE`, in the patient's
//! own set, and 0 in every other set — as seeded LWE ciphertexts under the client key's own
//! encryption key and noise distribution (tfhe's fresh-encryption key, 128-bit security). The
//! evaluator multiplies each slot by its public integer weight and adds them up: the
//! patient's accumulator `acc + offset`, for the patient's coefficient set, without learning
//! which set that is. The client decrypts it exactly.
//!
//! Correctness is proven, not estimated: the plaintext is `value · 2^(64 − PLAINTEXT_BITS)`;
//! each fresh encryption's noise is drawn from a tweaked-uniform distribution bounded by
//! `2^b` (b = 17 for both parameter sets), so the result's noise is at most
//! `Σ |weight| · 2^b`, which [`LinearMap::compile`] requires to be below half a plaintext
//! step, and `acc + offset` is below `2^PLAINTEXT_BITS` (the model loader's check). No
//! failure probability is involved.

use tfhe::core_crypto::prelude::{CiphertextModulus, DynamicDistribution, LweDimension};

use pulsecure_core::domain::equation_model::{EquationModel, PLAINTEXT_BITS};
use pulsecure_core::ports::fhe::FheError;

use crate::params::{EARLIER_PARAMETERS, PARAMETERS};

/// log2 of the plaintext scaling: a value `v` is encrypted as `v · 2^DELTA_BITS`.
pub const DELTA_BITS: u32 = 64 - PLAINTEXT_BITS;

/// The linear map of one model: public integer weights per slot and the offset.
#[derive(Clone, Debug)]
pub struct LinearMap {
    weights: Vec<i64>,
    offset: i64,
    /// Largest `acc + offset` a valid patient reaches.
    top: u64,
    noise_log2: u32,
    noise_bound: u64,
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
        let weights = model.slot_weights();
        let mass = weights
            .iter()
            .try_fold(0u64, |acc, w| acc.checked_add(w.unsigned_abs()))
            .ok_or_else(|| mismatch("slot weights overflow"))?;
        let noise_bound = mass
            .checked_mul(1u64 << noise_log2)
            .filter(|&b| b < 1u64 << (DELTA_BITS - 1))
            .ok_or_else(|| mismatch("the result noise bound is not below half a plaintext step"))?;
        let linear = model.linear();
        let offset = model.index().offset;
        let top = u64::try_from(linear.acc_max + offset)
            .ok()
            .filter(|&t| t < 1u64 << PLAINTEXT_BITS)
            .ok_or_else(|| mismatch("the accumulator does not fit the plaintext space"))?;
        Ok(LinearMap {
            weights,
            offset,
            top,
            noise_log2,
            noise_bound,
            dimension,
        })
    }

    /// Slots per request: one per coefficient set and encoded term, plus one group slot per set.
    pub fn slots(&self) -> usize {
        self.weights.len()
    }

    /// The public weight of every slot, in request order.
    pub fn weights(&self) -> &[i64] {
        &self.weights
    }

    /// The constant added to every accumulator (`-acc_min`), making it non-negative.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Largest `acc + offset` a valid patient reaches.
    pub fn top(&self) -> u64 {
        self.top
    }

    /// `b`: the proof assumes every fresh encryption's noise is within `[-2^b, 2^b]`.
    pub fn noise_log2(&self) -> u32 {
        self.noise_log2
    }

    /// Largest |noise| a correctly computed result can carry.
    pub fn noise_bound(&self) -> u64 {
        self.noise_bound
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
