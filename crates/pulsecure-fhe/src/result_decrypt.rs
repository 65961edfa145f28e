//! Client side of a compressed cvd-lr result: the switched block of
//! [`crate::result_switch`] decrypted directly with the client's small LWE secret key — no
//! decompression, no bootstrapping, no server key on the workstation.
//!
//! The block is an LWE ciphertext modulo 2N (here 2^12) under the small key. Its phase
//! `b − ⟨a, s⟩ mod 2N` is what a bootstrapping would rotate by; the message sits in boxes of
//! `Δ = 2N / (2 · 16)` (16 message-and-carry values, then the padding bit), and the
//! bootstrapping reads box `m` for a phase within `Δ / 2` of `m · Δ`. Rounding the phase to
//! the nearest multiple of `Δ` therefore decides exactly as that bootstrapping would, with
//! its failure probability; a phase in the padding half (`m ≥ 16`) is refused, as is an
//! all-zero mask (a keyless, trivial ciphertext).

use tfhe::shortint::client_key::atomic_pattern::AtomicPatternClientKey;
use tfhe::shortint::ClientKey;

use pulsecure_core::ports::fhe::FheError;

use pulsecure_core::ports::fhe::DecryptedResult;

use crate::backend::BLOCK_SPACE;
use crate::circuit::SegmentResults;
use crate::switched_wire;

/// The shape of a switched block under `key`: values (small dimension + 1) and their width.
pub fn block_shape(key: &ClientKey) -> (usize, u32) {
    let parameters = key.parameters();
    let count = parameters.lwe_dimension().to_lwe_size().0;
    let log_modulus = parameters
        .polynomial_size()
        .to_blind_rotation_input_modulus_log()
        .0 as u32;
    (count, log_modulus)
}

/// `b − ⟨a, s⟩ mod 2^log_modulus` of a switched block (`values`: mask then body). A value
/// derived from the secret key: public for the exactness tests, never logged or shown.
pub fn phase(key: &ClientKey, values: &[u64], log_modulus: u32) -> Result<u64, FheError> {
    let (mask, body) = match values.split_last() {
        Some((body, mask)) => (mask, *body),
        None => return Err(malformed("an empty compressed block")),
    };
    let inner = match &key.atomic_pattern {
        AtomicPatternClientKey::KeySwitch32(k) => dot(
            mask,
            k.small_lwe_secret_key()
                .as_ref()
                .iter()
                .map(|&s| u64::from(s)),
        )?,
        AtomicPatternClientKey::Standard(k) => {
            dot(mask, k.small_lwe_secret_key().as_ref().iter().copied())?
        }
    };
    Ok(body.wrapping_sub(inner) & ((1u64 << log_modulus) - 1))
}

fn dot(mask: &[u64], key: impl ExactSizeIterator<Item = u64>) -> Result<u64, FheError> {
    if key.len() != mask.len() {
        return Err(malformed("a compressed block of another key's dimension"));
    }
    Ok(mask
        .iter()
        .zip(key)
        .fold(0u64, |acc, (&a, s)| acc.wrapping_add(a.wrapping_mul(s))))
}

/// Width of one message box, `2^log_modulus / (2 · 16)`.
pub fn box_width(log_modulus: u32) -> u64 {
    (1u64 << log_modulus) / (2 * BLOCK_SPACE)
}

/// What the client says of a block that decrypted to no segment of the model — a phase in
/// the padding half, or a message that is not a segment number. One text for both: which one
/// it was depends on the secret key, and a refusal should tell a hostile evaluator as little
/// as possible.
pub const NOT_A_SEGMENT: &str = "the result does not decrypt to one of the model's segments";

/// The message of `phase`, rounded to the nearest box; refuses the padding half.
pub fn decode(phase: u64, log_modulus: u32) -> Result<u64, FheError> {
    let delta = box_width(log_modulus);
    let rounded = ((phase + delta / 2) / delta) % (2 * BLOCK_SPACE);
    if rounded >= BLOCK_SPACE {
        return Err(malformed(NOT_A_SEGMENT));
    }
    Ok(rounded)
}

/// Decrypt one switched block in its wire form.
pub fn decrypt_block(key: &ClientKey, bytes: &[u8]) -> Result<u64, FheError> {
    let (count, log_modulus) = block_shape(key);
    // A box must hold at least one value and the modulus fit a u64 (12 bits for every
    // supported parameter set; checked so another key shape cannot make the arithmetic panic).
    if !(6..64).contains(&log_modulus) || count < 2 {
        return Err(FheError::Mismatch {
            what: "client key",
            reason: "a parameter set whose results cannot be read directly".into(),
        });
    }
    let values = switched_wire::unpack(bytes, count, log_modulus)?;
    if values[..count - 1].iter().all(|&a| a == 0) {
        return Err(malformed(
            "a block is a trivial (keyless, unencrypted) ciphertext",
        ));
    }
    decode(phase(key, &values, log_modulus)?, log_modulus)
}

/// Decrypt one switched block and read the result of its segment from the model's table;
/// refuses a number that is not one of `segments` (with [`NOT_A_SEGMENT`], as the padding
/// half).
pub fn decrypt_result(
    key: &ClientKey,
    bytes: &[u8],
    segments: &SegmentResults,
) -> Result<DecryptedResult, FheError> {
    let segment = decrypt_block(key, bytes)?;
    segments
        .result(segment)
        .ok_or_else(|| malformed(NOT_A_SEGMENT))
}

fn malformed(reason: &str) -> FheError {
    FheError::Malformed {
        what: "result",
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_round_to_the_nearest_box_and_the_padding_half_is_refused() {
        // 2N = 4096: boxes of 128, centred on multiples of 128.
        assert_eq!(box_width(12), 128);
        assert_eq!(decode(0, 12).ok(), Some(0));
        assert_eq!(decode(63, 12).ok(), Some(0));
        assert_eq!(decode(64, 12).ok(), Some(1));
        assert_eq!(decode(4095, 12).ok(), Some(0), "a small negative error");
        assert_eq!(decode(10 * 128 + 40, 12).ok(), Some(10));
        assert_eq!(decode(15 * 128 + 63, 12).ok(), Some(15));
        assert!(decode(15 * 128 + 64, 12).is_err());
        assert!(decode(2048, 12).is_err());
    }
}
