//! The byte form of a compressed cvd-lr result block: one LWE ciphertext under the small
//! (keyswitch output) key after the modulus switch to the blind rotation's input modulus 2N —
//! the very ciphertext a bootstrapping would consume — as `dimension + 1` values (mask, then
//! body) of `log_modulus` bits each, packed little endian (value `i` starts at bit
//! `i · log_modulus`), the last byte padded with zero bits.
//!
//! Like [`crate::lwe_wire`], the form carries no length, dimension or modulus field a sender
//! could set: the reader takes both from its own key's parameter set and refuses a block of
//! any other length or with non-zero padding bits. With today's parameters (small dimension
//! 918, N = 2048) a block is `⌈919 · 12 / 8⌉ = 1 379` bytes, against 16 546 for the full
//! 64-bit LWE ciphertext under the big key.

use pulsecure_core::ports::fhe::FheError;

/// Bytes of `count` values of `log_modulus` bits.
pub fn packed_len(count: usize, log_modulus: u32) -> usize {
    (count * log_modulus as usize).div_ceil(8)
}

/// Pack `values` (each `< 2^log_modulus`; higher bits are dropped) into bytes.
pub fn pack(values: &[u64], log_modulus: u32) -> Vec<u8> {
    let bits = log_modulus as usize;
    let mut out = vec![0u8; packed_len(values.len(), log_modulus)];
    let mask = low_bits(log_modulus);
    for (i, &v) in values.iter().enumerate() {
        let v = v & mask;
        let start = i * bits;
        for b in 0..bits {
            if (v >> b) & 1 == 1 {
                let at = start + b;
                out[at / 8] |= 1 << (at % 8);
            }
        }
    }
    out
}

/// Read exactly `count` values of `log_modulus` bits; refuses any other length and set
/// padding bits (an honest writer leaves them zero, so they can only be tampering).
pub fn unpack(bytes: &[u8], count: usize, log_modulus: u32) -> Result<Vec<u64>, FheError> {
    let expected = packed_len(count, log_modulus);
    if bytes.len() != expected {
        return Err(FheError::Malformed {
            what: "result",
            reason: format!(
                "a compressed block of {} bytes, expected {expected}",
                bytes.len()
            ),
        });
    }
    let bits = log_modulus as usize;
    let bit = |at: usize| u64::from((bytes[at / 8] >> (at % 8)) & 1);
    let values = (0..count)
        .map(|i| (0..bits).fold(0u64, |v, b| v | (bit(i * bits + b) << b)))
        .collect();
    if (count * bits..expected * 8).any(|at| bit(at) == 1) {
        return Err(FheError::Malformed {
            what: "result",
            reason: "a compressed block with padding bits set".into(),
        });
    }
    Ok(values)
}

fn low_bits(log_modulus: u32) -> u64 {
    if log_modulus >= 64 {
        u64::MAX
    } else {
        (1u64 << log_modulus) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_for_every_length_and_width() {
        for log in [1u32, 7, 12, 13, 32, 64] {
            for count in [0usize, 1, 2, 3, 919] {
                let values: Vec<u64> = (0..count as u64)
                    .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) & low_bits(log))
                    .collect();
                let bytes = pack(&values, log);
                assert_eq!(bytes.len(), packed_len(count, log));
                assert_eq!(unpack(&bytes, count, log).expect("reads"), values);
            }
        }
        assert_eq!(packed_len(919, 12), 1_379);
    }

    #[test]
    fn another_length_or_a_set_padding_bit_is_refused() {
        let bytes = pack(&[4095, 1, 2], 12);
        assert!(unpack(&bytes, 2, 12).is_err());
        assert!(unpack(&bytes[..4], 3, 12).is_err());
        // 3 × 12 bits = 36 bits in 5 bytes: the top 4 bits of the last byte are padding.
        let mut padded = bytes.clone();
        padded[4] |= 0x80;
        let err = unpack(&padded, 3, 12).expect_err("refused");
        assert!(err.to_string().contains("padding"), "{err}");
    }
}
