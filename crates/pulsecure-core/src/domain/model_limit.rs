//! The named limits of a schema-1 model: the model contract of `docs/model-format.md`.
//!
//! Every refusal of a schema-1 `model.json` — by [`crate::Model::from_json`] when it is loaded
//! and by [`crate::Model::check_circuit_limits`] (which the encrypted circuit runs when it
//! compiles the model) — names one of these limits, in its message and in
//! [`crate::ModelError::limit`]. The Python exporter (`training/model_contract.py`) refuses a
//! model with the same names, and both test suites read one case file
//! (`models/contract-cases.json`) listing, per limit, a model breaking it.

use std::fmt;

/// One limit of the schema-1 model contract. [`ModelLimit::ALL`] lists them in the order
/// they are checked: a model breaking several is refused naming the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelLimit {
    /// `schema_version` is 1.
    SchemaVersion,
    /// Every field of the schema is present with its type, and there is no other.
    SchemaFields,
    /// `model_id`: 1-64 characters of `[A-Za-z0-9._-]`.
    ModelId,
    /// `version` is at least 1.
    Version,
    /// `quantization.weight_scale` is 4096.
    WeightScale,
    /// `quantization.digit_bits` is 2.
    DigitBits,
    /// `linear.mode` is `per_digit_rounded`.
    LinearMode,
    /// `probability_scale` is 4096.
    ProbabilityScale,
    /// 1 to 12 features.
    MaxFeatures,
    /// One weight per feature.
    WeightCount,
    /// Feature names are non-empty and unique.
    FeatureNames,
    /// Finite ranges with `plausible_min <= clamp_min < clamp_max <= plausible_max`.
    FeatureRanges,
    /// A binary feature has 1 bit and clamp `[0, 1]`.
    BinaryFeature,
    /// A continuous feature's code has 1 to 8 bits.
    CodeBits,
    /// An ordinal feature: whole-number bounds, clamp = plausible range, one label per answer,
    /// `2^bits - 1 = answers - 1`; only an ordinal feature has answers.
    OrdinalFeature,
    /// `counts_from` names another, ungated continuous feature and a finite threshold.
    CountsFrom,
    /// Every `|weight| <= 2^24`.
    WeightBits,
    /// `|bias| <= 2^30`.
    BiasBits,
    /// `linear.grain_shift <= 30`.
    GrainShift,
    /// `linear.logit_min` / `logit_max` equal the bounds computed from the weights.
    LogitBounds,
    /// `index.bits` is 4, 6 or 8 (the reference engine alone reads 1 to 12).
    IndexBits,
    /// `index.shift` and `linear.accumulator_bits` are even (whole 2-bit digits).
    WholeDigits,
    /// `index.shift <= 16`.
    IndexShift,
    /// `linear.accumulator_bits = index.bits + index.shift`: the index is the accumulator's
    /// top digits.
    IndexTopDigits,
    /// `logit_min + index.offset >= 0`: the accumulator's constant is not negative.
    AccumulatorConstant,
    /// `logit_max + index.offset < 2^accumulator_bits`: the accumulator cannot overflow.
    AccumulatorOverflow,
    /// `lut` has `2^index.bits` entries.
    TableLength,
    /// Every `lut` entry is at most `probability_scale`.
    ProbabilityCodes,
    /// `lut` is non-decreasing.
    MonotoneTable,
    /// `threshold` is at most `probability_scale`.
    Threshold,
    /// `target.population`: finite ages with `age_min <= age_max`.
    PopulationAges,
    /// A model with a `target.population` has a feature named `age`.
    PopulationAgeFeature,
    /// At most 16 distinct values in `lut` (one 16-valued block).
    ProbabilityLevels,
}

impl ModelLimit {
    /// Every limit, in check order.
    pub const ALL: [ModelLimit; 33] = [
        ModelLimit::SchemaVersion,
        ModelLimit::SchemaFields,
        ModelLimit::ModelId,
        ModelLimit::Version,
        ModelLimit::WeightScale,
        ModelLimit::DigitBits,
        ModelLimit::LinearMode,
        ModelLimit::ProbabilityScale,
        ModelLimit::MaxFeatures,
        ModelLimit::WeightCount,
        ModelLimit::FeatureNames,
        ModelLimit::FeatureRanges,
        ModelLimit::BinaryFeature,
        ModelLimit::CodeBits,
        ModelLimit::OrdinalFeature,
        ModelLimit::CountsFrom,
        ModelLimit::WeightBits,
        ModelLimit::BiasBits,
        ModelLimit::GrainShift,
        ModelLimit::LogitBounds,
        ModelLimit::IndexBits,
        ModelLimit::WholeDigits,
        ModelLimit::IndexShift,
        ModelLimit::IndexTopDigits,
        ModelLimit::AccumulatorConstant,
        ModelLimit::AccumulatorOverflow,
        ModelLimit::TableLength,
        ModelLimit::ProbabilityCodes,
        ModelLimit::MonotoneTable,
        ModelLimit::Threshold,
        ModelLimit::PopulationAges,
        ModelLimit::PopulationAgeFeature,
        ModelLimit::ProbabilityLevels,
    ];

    /// The stable name used in errors, in the docs and in the shared case file.
    pub fn name(self) -> &'static str {
        match self {
            ModelLimit::SchemaVersion => "schema_version",
            ModelLimit::SchemaFields => "schema_fields",
            ModelLimit::ModelId => "model_id",
            ModelLimit::Version => "version",
            ModelLimit::WeightScale => "weight_scale",
            ModelLimit::DigitBits => "digit_bits",
            ModelLimit::LinearMode => "linear_mode",
            ModelLimit::ProbabilityScale => "probability_scale",
            ModelLimit::MaxFeatures => "max_features",
            ModelLimit::WeightCount => "weight_count",
            ModelLimit::FeatureNames => "feature_names",
            ModelLimit::FeatureRanges => "feature_ranges",
            ModelLimit::BinaryFeature => "binary_feature",
            ModelLimit::CodeBits => "code_bits",
            ModelLimit::OrdinalFeature => "ordinal_feature",
            ModelLimit::CountsFrom => "counts_from",
            ModelLimit::WeightBits => "weight_bits",
            ModelLimit::BiasBits => "bias_bits",
            ModelLimit::GrainShift => "grain_shift",
            ModelLimit::LogitBounds => "logit_bounds",
            ModelLimit::IndexBits => "index_bits",
            ModelLimit::WholeDigits => "whole_digits",
            ModelLimit::IndexShift => "index_shift",
            ModelLimit::IndexTopDigits => "index_top_digits",
            ModelLimit::AccumulatorConstant => "accumulator_constant",
            ModelLimit::AccumulatorOverflow => "accumulator_overflow",
            ModelLimit::TableLength => "table_length",
            ModelLimit::ProbabilityCodes => "probability_codes",
            ModelLimit::MonotoneTable => "monotone_table",
            ModelLimit::Threshold => "threshold",
            ModelLimit::PopulationAges => "population_ages",
            ModelLimit::PopulationAgeFeature => "population_age_feature",
            ModelLimit::ProbabilityLevels => "probability_levels",
        }
    }

    /// The limit of that name.
    pub fn from_name(name: &str) -> Option<ModelLimit> {
        ModelLimit::ALL.into_iter().find(|l| l.name() == name)
    }

    /// `model limit `name``: how every refusal message starts.
    pub fn label(self) -> String {
        format!("model limit `{}`", self.name())
    }
}

impl fmt::Display for ModelLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut names: Vec<&str> = ModelLimit::ALL.iter().map(|l| l.name()).collect();
        for l in ModelLimit::ALL {
            assert_eq!(ModelLimit::from_name(l.name()), Some(l));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ModelLimit::ALL.len());
    }
}
