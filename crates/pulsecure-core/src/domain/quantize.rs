//! Step 2 of the integer pipeline (input quantization) and the base-4 digit arithmetic shared
//! by the reference and encrypted engines.

use super::model::Model;
use super::patient::PatientFeatures;

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

/// `x = floor((clamp(v, lo, hi) - lo) * L / (hi - lo) + 0.5)` in binary64, in this order,
/// exactly as the training pipeline computes it.
pub fn quantize_value(value: f64, lo: f64, hi: f64, bits: u32) -> u32 {
    let levels = f64::from((1u32 << bits) - 1);
    let clamped = value.clamp(lo, hi);
    let code = ((clamped - lo) * levels / (hi - lo) + 0.5).floor();
    // In range by construction: clamped is within [lo, hi].
    code.clamp(0.0, levels) as u32
}

/// A patient's quantized inputs: one code per feature, and their base-4 digits in the order
/// the encrypted engine consumes them (the model's digit tables order).
#[derive(Clone, PartialEq, Eq)]
pub struct QuantizedInput {
    codes: Vec<u32>,
    digits: Vec<u8>,
}

impl std::fmt::Debug for QuantizedInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Codes are patient data: never printed.
        f.debug_struct("QuantizedInput")
            .field("features", &self.codes.len())
            .field("digits", &"<redacted>")
            .finish()
    }
}

impl QuantizedInput {
    /// Quantize a validated patient with the model's clamp ranges and code widths.
    pub fn from_patient(model: &Model, patient: &PatientFeatures) -> Self {
        let codes = model
            .features()
            .iter()
            .zip(patient.values())
            .map(|(spec, &v)| quantize_value(v, spec.clamp_min, spec.clamp_max, spec.bits))
            .collect();
        Self::from_codes_unchecked(model, codes)
    }

    /// Build from codes, checking each against its feature's width.
    pub fn from_codes(model: &Model, codes: Vec<u32>) -> Option<Self> {
        let ok = codes.len() == model.features().len()
            && codes
                .iter()
                .zip(model.features())
                .all(|(&c, f)| c <= f.max_code());
        ok.then(|| Self::from_codes_unchecked(model, codes))
    }

    fn from_codes_unchecked(model: &Model, codes: Vec<u32>) -> Self {
        let digits = model
            .digit_tables()
            .iter()
            .map(|t| ((codes[t.feature] >> (DIGIT_BITS * t.position)) & 3) as u8)
            .collect();
        QuantizedInput { codes, digits }
    }

    /// One code per feature.
    pub fn codes(&self) -> &[u32] {
        &self.codes
    }

    /// Base-4 digits in digit-table order.
    pub fn digits(&self) -> &[u8] {
        &self.digits
    }
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
    fn quantize_clamps_and_rounds() {
        assert_eq!(quantize_value(20.0, 20.0, 80.0, 6), 0);
        assert_eq!(quantize_value(80.0, 20.0, 80.0, 6), 63);
        assert_eq!(quantize_value(200.0, 20.0, 80.0, 6), 63);
        assert_eq!(quantize_value(-5.0, 20.0, 80.0, 6), 0);
        assert_eq!(quantize_value(50.0, 20.0, 80.0, 6), 32); // 31.5 rounds up
        assert_eq!(quantize_value(1.0, 0.0, 1.0, 1), 1);
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
