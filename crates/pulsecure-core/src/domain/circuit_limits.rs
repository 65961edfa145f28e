//! The limits the encrypted circuit adds to a loaded schema-1 model (`docs/model-format.md`,
//! "The model contract"). Pure arithmetic on the model, so the core can state them and the
//! circuit (`pulsecure-fhe`, `CircuitPlan::compile`) runs them before anything else; a model
//! the reference engine reads may still be one the circuit cannot evaluate exactly.

use super::model::{refuse, Model, ModelError};
use super::model_limit::ModelLimit;

/// Index widths the encrypted lookup reads (whole digits; the table in 16-wide buckets, at
/// most 16 of them).
pub const CIRCUIT_INDEX_BITS: [u32; 3] = [4, 6, 8];
/// Most distinct probability levels: the segment number is one 16-valued block.
pub const MAX_PROBABILITY_LEVELS: usize = 16;

impl Model {
    /// Refuse a model the encrypted circuit cannot evaluate exactly, naming the limit:
    /// `whole_digits`, `index_bits` (4, 6 or 8) and `probability_levels`, in this order.
    /// The loader's own checks ([`Model::from_json`]) have already passed.
    pub fn check_circuit_limits(&self) -> Result<(), ModelError> {
        let linear = self.linear_spec();
        let index = self.index_spec();
        if !linear.accumulator_bits.is_multiple_of(2) || !index.shift.is_multiple_of(2) {
            return Err(refuse(
                ModelLimit::WholeDigits,
                "linear.accumulator_bits",
                "the accumulator and the index shift must be whole 2-bit digits",
            ));
        }
        if !CIRCUIT_INDEX_BITS.contains(&index.bits) {
            return Err(refuse(
                ModelLimit::IndexBits,
                "index.bits",
                "the encrypted circuit reads an index of 4, 6 or 8 bits",
            ));
        }
        let mut levels = self.lut().to_vec();
        levels.dedup();
        if levels.len() > MAX_PROBABILITY_LEVELS {
            return Err(refuse(
                ModelLimit::ProbabilityLevels,
                "lut",
                format!(
                    "has {} probability levels; at most {MAX_PROBABILITY_LEVELS} fit one block",
                    levels.len()
                ),
            ));
        }
        Ok(())
    }
}
