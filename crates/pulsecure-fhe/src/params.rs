//! The TFHE parameter sets and the deserialization limits.
//!
//! New keys use `PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128`: 2-bit message and 2-bit
//! carry per block, keyswitch then PBS with the keyswitch done in 32-bit ciphertexts,
//! 128-bit security, bootstrapping failure probability 2^-129.6 — the same LWE/GLWE
//! dimensions, PBS decomposition and failure probability as the classic set
//! `PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128` that earlier builds used. Measured on this
//! circuit in one run (`pulsecure bench --compare-parameters`, docs/performance.md): one
//! evaluation ~5 % faster, key generation ~25 % and key decompression ~30 % faster, the
//! compressed server key the same size (30.1 MB). The circuit needs a 4-bit block space
//! (tables on 4-bit values, sums up to 15); one PBS of 3_3 costs ~7× more here.
//!
//! Keys of the classic set (made by earlier builds) stay readable and are evaluated as they
//! are: an installation keeps working without new keys.

use tfhe::shortint::parameters::{
    ClassicPBSParameters, KeySwitch32PBSParameters,
    PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128, PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
};

/// The parameter set of every key made now.
pub const PARAMETERS: KeySwitch32PBSParameters = PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128;

/// The parameter set's name, as tfhe spells it (reported by the evaluator service).
pub const PARAMETERS_NAME: &str = "PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128";

/// The parameter set of keys made by earlier builds, still read and evaluated.
pub const EARLIER_PARAMETERS: ClassicPBSParameters = PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128;

/// The earlier set's name.
pub const EARLIER_PARAMETERS_NAME: &str = "PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128";

/// Largest serialized compressed server key accepted (bounds allocation on hostile input).
pub const SERVER_KEY_LIMIT: u64 = 256 << 20;
/// Largest serialized client key accepted.
pub const CLIENT_KEY_LIMIT: u64 = 16 << 20;
/// Largest single serialized ciphertext accepted.
pub const CIPHERTEXT_LIMIT: u64 = 64 << 10;
/// Most blocks a request or a response may carry (a PREVENT request has 40 slots: two
/// coefficient sets of 19 terms and a group slot each).
pub const MAX_BLOCKS: usize = 128;
