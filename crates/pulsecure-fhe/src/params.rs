//! The TFHE parameter set and the deserialization limits.
//!
//! `PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128` (tfhe 1.8's default): 2-bit message and
//! 2-bit carry per block, keyswitch then PBS, 128-bit security, bootstrapping failure
//! probability at most 2^-128. Chosen because the circuit needs a 4-bit block space (lookup
//! tables on 4-bit values, sums up to 15) and one PBS of this set costs ~27 ms here, against
//! ~190 ms for 3_3; multi-bit variants were not faster on 2 cores (../shared/notes).

use tfhe::shortint::parameters::{
    ClassicPBSParameters, PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
};

/// The parameter set used for every key and ciphertext.
pub const PARAMETERS: ClassicPBSParameters = PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128;

/// The parameter set's name, as tfhe spells it (reported by the evaluator service).
pub const PARAMETERS_NAME: &str = "PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128";

/// Largest serialized compressed server key accepted (bounds allocation on hostile input).
pub const SERVER_KEY_LIMIT: u64 = 256 << 20;
/// Largest serialized client key accepted.
pub const CLIENT_KEY_LIMIT: u64 = 16 << 20;
/// Largest single serialized ciphertext accepted.
pub const CIPHERTEXT_LIMIT: u64 = 64 << 10;
/// Most blocks a request or a response may carry.
pub const MAX_BLOCKS: usize = 64;
