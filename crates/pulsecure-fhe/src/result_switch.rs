//! Evaluator side of a compressed cvd-lr result: the segment block is keyswitched to the small
//! key and modulus-switched to the blind rotation's input modulus 2N, exactly the first two
//! steps of a bootstrapping of that block (tfhe's own `switch_modulus_and_compress` does the
//! same two steps with the same keys). What leaves the evaluator is therefore a ciphertext the
//! circuit would have fed to one more bootstrapping, with that bootstrapping's failure
//! probability (2^-128 at most for a block within the noise budget the circuit enforces);
//! the client decrypts it directly with its small secret key (`crate::result_decrypt`).
//!
//! No new key material is needed: the keyswitching key and the modulus-switch configuration
//! are part of every server key, so the server key keeps its size.

use tfhe::core_crypto::prelude::{
    keyswitch_lwe_ciphertext, keyswitch_lwe_ciphertext_with_scalar_change, CastInto, LweCiphertext,
    LweCiphertextOwned, ModulusSwitchedLweCiphertext, UnsignedInteger,
};
use tfhe::shortint::atomic_pattern::AtomicPatternServerKey;
use tfhe::shortint::server_key::{ModulusSwitchConfiguration, ShortintBootstrappingKey};
use tfhe::shortint::{Ciphertext, PBSOrder, ServerKey};

use pulsecure_core::ports::fhe::FheError;

use crate::switched_wire;

/// One switched block: `dimension + 1` values below `2^log_modulus`, mask then body.
pub struct SwitchedBlock {
    /// Mask then body.
    pub values: Vec<u64>,
    /// log2 of the modulus (the bootstrapping's input modulus 2N).
    pub log_modulus: u32,
}

impl SwitchedBlock {
    /// The wire form ([`crate::switched_wire`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        switched_wire::pack(&self.values, self.log_modulus)
    }
}

fn unsupported(what: &str) -> FheError {
    FheError::Evaluation(format!("this server key cannot compress results: {what}"))
}

/// Keyswitch then modulus-switch `block` with `key`, as a bootstrapping would.
pub fn switch_block(key: &ServerKey, block: &Ciphertext) -> Result<SwitchedBlock, FheError> {
    match &key.atomic_pattern {
        AtomicPatternServerKey::KeySwitch32(ap) => {
            let ksk = &ap.key_switching_key;
            let mut small =
                LweCiphertext::new(0u32, ksk.output_lwe_size(), ksk.ciphertext_modulus());
            keyswitch_lwe_ciphertext_with_scalar_change(ksk, &block.ct, &mut small);
            modulus_switch(&ap.bootstrapping_key, &small)
        }
        AtomicPatternServerKey::Standard(ap) => {
            if ap.pbs_order != PBSOrder::KeyswitchBootstrap {
                return Err(unsupported("not a keyswitch-then-bootstrap key"));
            }
            let ksk = &ap.key_switching_key;
            let mut small =
                LweCiphertext::new(0u64, ksk.output_lwe_size(), ksk.ciphertext_modulus());
            keyswitch_lwe_ciphertext(ksk, &block.ct, &mut small);
            modulus_switch(&ap.bootstrapping_key, &small)
        }
        AtomicPatternServerKey::Dynamic(_) => Err(unsupported("a dynamic atomic pattern")),
    }
}

fn modulus_switch<S>(
    bootstrapping_key: &ShortintBootstrappingKey<S>,
    small: &LweCiphertextOwned<S>,
) -> Result<SwitchedBlock, FheError>
where
    S: UnsignedInteger + CastInto<u64>,
{
    let ShortintBootstrappingKey::Classic {
        bsk,
        modulus_switch_noise_reduction_key,
    } = bootstrapping_key
    else {
        return Err(unsupported("a multi-bit bootstrapping key"));
    };
    let log_modulus = bsk.polynomial_size().to_blind_rotation_input_modulus_log();
    let config: &ModulusSwitchConfiguration<S> = modulus_switch_noise_reduction_key;
    let switched = config.lwe_ciphertext_modulus_switch::<u64, _>(small, log_modulus);
    let values = switched
        .mask()
        .chain(std::iter::once(switched.body()))
        .collect();
    Ok(SwitchedBlock {
        values,
        log_modulus: log_modulus.0 as u32,
    })
}
