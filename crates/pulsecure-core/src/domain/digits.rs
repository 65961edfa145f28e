//! Base-4 digit arithmetic shared by the model's table construction, input quantization,
//! the reference engine and the encrypted circuit. Pure integer functions: kept apart so
//! that `model` and `quantize` both use them without depending on each other.

/// Bits per digit: one TFHE 2_2 block carries one digit.
pub const DIGIT_BITS: u32 = 2;
/// Digit base.
pub const DIGIT_BASE: i64 = 1 << DIGIT_BITS;

/// Number of base-4 digits of a `bits`-bit code.
pub fn digit_count(bits: u32) -> u32 {
    bits.div_ceil(DIGIT_BITS)
}

/// Largest value digit `position` can take in a `bits`-bit code.
pub fn max_digit(bits: u32, position: u32) -> u32 {
    let max_code = (1u32 << bits) - 1;
    (max_code >> (DIGIT_BITS * position)).min(DIGIT_BASE as u32 - 1)
}

/// Round-half-up division by `2^shift` (arithmetic shift, i.e. floor, after adding half).
pub fn rounded_shift(value: i64, shift: u32) -> i64 {
    if shift == 0 {
        value
    } else {
        (value + (1i64 << (shift - 1))) >> shift
    }
}

/// `sign(v) * (|v| >> shift)`: division by `2^shift` truncated toward zero. Per-digit
/// contributions use it because a sum of truncations is monotone across digit carries.
pub fn truncated_shift(value: i64, shift: u32) -> i64 {
    value.signum() * (value.abs() >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounded_shift_rounds_half_up_for_negatives_too() {
        assert_eq!(rounded_shift(5, 1), 3);
        assert_eq!(rounded_shift(-5, 1), -2);
        assert_eq!(rounded_shift(-6, 2), -1);
        assert_eq!(rounded_shift(7, 0), 7);
    }

    #[test]
    fn truncated_shift_goes_toward_zero() {
        assert_eq!(truncated_shift(255, 8), 0);
        assert_eq!(truncated_shift(-255, 8), 0);
        assert_eq!(truncated_shift(-512, 8), -2);
        assert_eq!(truncated_shift(700, 8), 2);
    }

    #[test]
    fn digits_cover_odd_widths() {
        assert_eq!(digit_count(6), 3);
        assert_eq!(digit_count(5), 3);
        assert_eq!(digit_count(1), 1);
        assert_eq!(max_digit(5, 2), 1);
        assert_eq!(max_digit(6, 2), 3);
        assert_eq!(max_digit(1, 0), 1);
    }
}
