//! Step 2 of the integer pipeline: input quantization of a validated patient into codes and
//! base-4 digits.

pub use super::digits::{
    digit_count, max_digit, rounded_shift, truncated_shift, DIGIT_BASE, DIGIT_BITS,
};
use super::model::Model;
use super::patient::PatientFeatures;

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
    ///
    /// A feature with `counts_from` whose condition does not hold is taken as its
    /// `clamp_min` first (model-format step 1b).
    pub fn from_patient(model: &Model, patient: &PatientFeatures) -> Self {
        let specs = model.features();
        let values = patient.values();
        let codes = specs
            .iter()
            .zip(values)
            .map(|(spec, &v)| {
                let counted = match &spec.counts_from {
                    Some(gate) => specs
                        .iter()
                        .position(|f| f.name == gate.feature)
                        .is_some_and(|source| values[source] >= gate.at_least),
                    None => true,
                };
                let v = if counted { v } else { spec.clamp_min };
                quantize_value(v, spec.clamp_min, spec.clamp_max, spec.bits)
            })
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
    fn quantize_clamps_and_rounds() {
        assert_eq!(quantize_value(20.0, 20.0, 80.0, 6), 0);
        assert_eq!(quantize_value(80.0, 20.0, 80.0, 6), 63);
        assert_eq!(quantize_value(200.0, 20.0, 80.0, 6), 63);
        assert_eq!(quantize_value(-5.0, 20.0, 80.0, 6), 0);
        assert_eq!(quantize_value(50.0, 20.0, 80.0, 6), 32); // 31.5 rounds up
        assert_eq!(quantize_value(1.0, 0.0, 1.0, 1), 1);
    }
}
