//! The model artifact (`model.json`, schema version 1): parsing and full validation.
//!
//! A model is only constructed through [`Model::from_json`], which checks everything an engine
//! relies on: schema version, feature list against weights, ranges, the lookup table (length
//! `2^bits`, monotone, in range) and — recomputed here, not trusted from the file — the proven
//! bounds of the linear combination, so that the index never needs a clamp and the encrypted
//! accumulator of `accumulator_bits` bits can never overflow.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::digits::{digit_count, max_digit, rounded_shift, truncated_shift, DIGIT_BASE};
use super::feature::{FeatureKind, FeatureSpec};
use super::model_limit::ModelLimit;
use super::population::{ModelTarget, TargetPopulation, AGE_FEATURE};

/// The only schema version this build understands.
pub const SCHEMA_VERSION: u32 = 1;
/// Fixed-point scale of weights and bias (12 bits).
pub const WEIGHT_SCALE: i64 = 4096;
/// Most features a model may have (encrypted cost grows with each).
pub const MAX_FEATURES: usize = 12;
/// Widest input code accepted (8 bits = 4 base-4 digits).
pub const MAX_CODE_BITS: u32 = 8;
/// Widest index accepted.
pub const MAX_INDEX_BITS: u32 = 12;
/// Largest index shift accepted.
pub const MAX_INDEX_SHIFT: u32 = 16;
/// Largest |weight| accepted, keeping every product far from i64 overflow.
pub const MAX_ABS_WEIGHT: i64 = 1 << 24;
/// Largest |bias| accepted.
pub const MAX_ABS_BIAS: i64 = MAX_ABS_WEIGHT * 64;

/// Why a model file was refused. Messages name the offending field.
#[derive(Debug, Error, PartialEq)]
pub enum ModelError {
    /// Not JSON, or a field has the wrong type / is missing / is unknown.
    #[error("model.json is malformed: {0}")]
    Malformed(String),
    /// A schema version this build does not know (limit `schema_version`).
    #[error("model limit `schema_version`: unsupported model schema_version {found} (this build reads {expected})")]
    UnsupportedSchema {
        /// Version found in the file.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
    /// A field is present but its value is not acceptable (schema 2).
    #[error("invalid model field `{field}`: {reason}")]
    Invalid {
        /// Path of the field, e.g. `features[2].clamp_min`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A schema-1 model breaking a named limit of the model contract
    /// (`docs/model-format.md`, [`ModelLimit`]).
    #[error("model limit `{limit}` (field `{field}`): {reason}")]
    Limit {
        /// The limit, named as in the docs and the shared case file.
        limit: ModelLimit,
        /// Path of the field, e.g. `features[2].clamp_min`.
        field: String,
        /// What is wrong with it (model values only, never patient data).
        reason: String,
    },
}

impl ModelError {
    /// The contract limit a schema-1 model broke, if the refusal is one.
    pub fn limit(&self) -> Option<ModelLimit> {
        match self {
            ModelError::Limit { limit, .. } => Some(*limit),
            ModelError::UnsupportedSchema { .. } => Some(ModelLimit::SchemaVersion),
            ModelError::Malformed(_) | ModelError::Invalid { .. } => None,
        }
    }
}

/// The refusal of a schema-1 model breaking `limit` at `field`.
pub(crate) fn refuse(
    limit: ModelLimit,
    field: impl Into<String>,
    reason: impl Into<String>,
) -> ModelError {
    ModelError::Limit {
        limit,
        field: field.into(),
        reason: reason.into(),
    }
}

/// Input quantization rule as documented in the file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantizationSpec {
    /// The formula, for humans; the implementation is fixed by the schema version.
    pub input_rule: String,
    /// Bits per digit of the encrypted input (2: one TFHE block).
    pub digit_bits: u32,
    /// Weight fixed-point scale (must be 4096).
    pub weight_scale: i64,
}

/// How the linear combination is computed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearSpec {
    /// `per_digit_rounded`: each base-4 digit's contribution truncated toward zero on the
    /// `2^grain_shift` grid (truncation keeps the sum monotone in each feature).
    pub mode: String,
    /// The formula, for humans.
    pub rule: String,
    /// Contributions are `sign(w) * ((|w| * d * 4^j) >> s)` with `s = grain_shift`.
    pub grain_shift: u32,
    /// Smallest possible logit (recomputed and checked).
    pub logit_min: i64,
    /// Largest possible logit (recomputed and checked).
    pub logit_max: i64,
    /// Width of the encrypted accumulator `logit + offset`, in bits.
    pub accumulator_bits: u32,
}

/// Step 4: `idx = clamp((logit + offset) >> shift, 0, 2^bits - 1)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexSpec {
    /// Added to the logit; equals `-logit_min` so the accumulator is never negative.
    pub offset: i64,
    /// Right shift from accumulator to index (a whole number of digits).
    pub shift: u32,
    /// Index width in bits; the table has `2^bits` entries.
    pub bits: u32,
}

/// `model.json` exactly as stored (schema version 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDocument {
    /// Schema version (1).
    pub schema_version: u32,
    /// Stable model identifier, e.g. `cvd-lr`.
    pub model_id: String,
    /// Monotonically increasing release number.
    pub version: u64,
    /// Human description.
    pub description: String,
    /// Inputs in model order.
    pub features: Vec<FeatureSpec>,
    /// Input quantization.
    pub quantization: QuantizationSpec,
    /// Weight per code unit of each feature, scale 4096.
    pub weights: Vec<i64>,
    /// Bias, scale 4096.
    pub bias: i64,
    /// Linear-combination layout.
    pub linear: LinearSpec,
    /// Index computation.
    pub index: IndexSpec,
    /// Probability units (4096).
    pub probability_scale: u32,
    /// Calibrated probability per index, monotone non-decreasing.
    pub lut: Vec<u32>,
    /// Class threshold on the probability code: high risk when `p >= threshold`.
    pub threshold: u32,
    /// Measured metrics (free-form, reported by `model inspect`).
    pub metrics: serde_json::Value,
    /// Training provenance (free-form).
    pub training: serde_json::Value,
    /// What the model predicts and for whom (from cvd-lr v3); absent: no population rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<ModelTarget>,
}

/// The contribution table of one base-4 digit of one feature's code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigitTable {
    /// Which feature (index into the model's features).
    pub feature: usize,
    /// Digit position j (weight `4^j`).
    pub position: u32,
    /// `values[d]` for each digit value `d` the code can have.
    pub values: Vec<i64>,
}

impl DigitTable {
    /// Smallest entry.
    pub fn min(&self) -> i64 {
        self.values.iter().copied().min().unwrap_or(0)
    }

    /// Largest entry.
    pub fn max(&self) -> i64 {
        self.values.iter().copied().max().unwrap_or(0)
    }
}

/// A fully validated model, with its digit contribution tables precomputed.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    doc: ModelDocument,
    tables: Vec<DigitTable>,
    rounded_bias: i64,
}

impl Model {
    /// Parse and validate `model.json` bytes.
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ModelError::Malformed(e.to_string()))?;
        // Read the schema version first, so a future file gets the right error.
        match value.get("schema_version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {}
            Some(v) => {
                return Err(ModelError::UnsupportedSchema {
                    found: u32::try_from(v).unwrap_or(u32::MAX),
                    expected: SCHEMA_VERSION,
                })
            }
            None => {
                return Err(refuse(
                    ModelLimit::SchemaVersion,
                    "schema_version",
                    "missing or not an integer",
                ))
            }
        }
        let doc: ModelDocument = serde_json::from_value(value)
            .map_err(|e| refuse(ModelLimit::SchemaFields, "model.json", e.to_string()))?;
        Self::from_document(doc)
    }

    /// Validate an already-parsed document.
    pub fn from_document(doc: ModelDocument) -> Result<Self, ModelError> {
        validate_header(&doc)?;
        validate_features(&doc)?;
        let tables = build_tables(&doc)?;
        let rounded_bias = rounded_shift(doc.bias, doc.linear.grain_shift);
        validate_linear(&doc, &tables, rounded_bias)?;
        validate_lut(&doc)?;
        validate_target(&doc)?;
        Ok(Model {
            doc,
            tables,
            rounded_bias,
        })
    }

    /// The document as stored.
    pub fn document(&self) -> &ModelDocument {
        &self.doc
    }

    /// Model identifier.
    pub fn id(&self) -> &str {
        &self.doc.model_id
    }

    /// Release number.
    pub fn version(&self) -> u64 {
        self.doc.version
    }

    /// This release: id and version.
    pub fn model_ref(&self) -> crate::domain::model_ref::ModelRef {
        crate::domain::model_ref::ModelRef::new(self.id(), self.version())
    }

    /// Inputs in model order.
    pub fn features(&self) -> &[FeatureSpec] {
        &self.doc.features
    }

    /// Weights per code unit (scale 4096), in feature order.
    pub fn weights(&self) -> &[i64] {
        &self.doc.weights
    }

    /// Digit contribution tables in encryption order (feature by feature, low digit first).
    pub fn digit_tables(&self) -> &[DigitTable] {
        &self.tables
    }

    /// Bias on the contribution grid.
    pub fn rounded_bias(&self) -> i64 {
        self.rounded_bias
    }

    /// Index layout.
    pub fn index_spec(&self) -> &IndexSpec {
        &self.doc.index
    }

    /// Linear layout.
    pub fn linear_spec(&self) -> &LinearSpec {
        &self.doc.linear
    }

    /// Calibrated probability table.
    pub fn lut(&self) -> &[u32] {
        &self.doc.lut
    }

    /// High-risk threshold on the probability code.
    pub fn threshold(&self) -> u32 {
        self.doc.threshold
    }

    /// Probability units.
    pub fn probability_scale(&self) -> u32 {
        self.doc.probability_scale
    }

    /// What the model predicts and for whom, when declared (cvd-lr v3 on).
    pub fn target(&self) -> Option<&ModelTarget> {
        self.doc.target.as_ref()
    }

    /// The population the model is for, when its `target` declares one.
    pub fn population(&self) -> Option<&TargetPopulation> {
        self.doc.target.as_ref().map(|t| &t.population)
    }

    /// Total number of encrypted base-4 digits per patient.
    pub fn digit_count(&self) -> usize {
        self.tables.len()
    }
}

fn validate_target(doc: &ModelDocument) -> Result<(), ModelError> {
    let Some(target) = &doc.target else {
        return Ok(());
    };
    let p = &target.population;
    if !(p.age_min.is_finite() && p.age_max.is_finite() && p.age_min <= p.age_max) {
        return Err(refuse(
            ModelLimit::PopulationAges,
            "target.population",
            "age_min and age_max must be finite with age_min <= age_max",
        ));
    }
    if !doc.features.iter().any(|f| f.name == AGE_FEATURE) {
        return Err(refuse(
            ModelLimit::PopulationAgeFeature,
            "target.population",
            format!("an age range needs a feature named `{AGE_FEATURE}`"),
        ));
    }
    Ok(())
}

fn validate_header(doc: &ModelDocument) -> Result<(), ModelError> {
    let id_ok = !doc.model_id.is_empty()
        && doc.model_id.len() <= 64
        && doc
            .model_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if !id_ok {
        return Err(refuse(
            ModelLimit::ModelId,
            "model_id",
            "must be 1-64 characters of [A-Za-z0-9._-]",
        ));
    }
    if doc.version == 0 {
        return Err(refuse(ModelLimit::Version, "version", "must be at least 1"));
    }
    if doc.quantization.weight_scale != WEIGHT_SCALE {
        return Err(refuse(
            ModelLimit::WeightScale,
            "quantization.weight_scale",
            format!("must be {WEIGHT_SCALE}"),
        ));
    }
    if doc.quantization.digit_bits != 2 {
        return Err(refuse(
            ModelLimit::DigitBits,
            "quantization.digit_bits",
            "must be 2",
        ));
    }
    if doc.linear.mode != "per_digit_rounded" {
        return Err(refuse(
            ModelLimit::LinearMode,
            "linear.mode",
            "only `per_digit_rounded` is supported",
        ));
    }
    if doc.probability_scale != 4096 {
        return Err(refuse(
            ModelLimit::ProbabilityScale,
            "probability_scale",
            "must be 4096",
        ));
    }
    Ok(())
}

fn validate_features(doc: &ModelDocument) -> Result<(), ModelError> {
    let n = doc.features.len();
    if n == 0 || n > MAX_FEATURES {
        return Err(refuse(
            ModelLimit::MaxFeatures,
            "features",
            format!("must list 1 to {MAX_FEATURES} features, found {n}"),
        ));
    }
    if doc.weights.len() != n {
        return Err(refuse(
            ModelLimit::WeightCount,
            "weights",
            format!("has {} entries for {n} features", doc.weights.len()),
        ));
    }
    for (i, f) in doc.features.iter().enumerate() {
        let at = |field: &str| format!("features[{i}].{field}");
        if f.name.is_empty() || doc.features[..i].iter().any(|g| g.name == f.name) {
            return Err(refuse(
                ModelLimit::FeatureNames,
                at("name"),
                "must be non-empty and unique",
            ));
        }
        let all = [f.plausible_min, f.plausible_max, f.clamp_min, f.clamp_max];
        if all.iter().any(|v| !v.is_finite()) {
            return Err(refuse(
                ModelLimit::FeatureRanges,
                at("plausible_min"),
                "ranges must be finite numbers",
            ));
        }
        if !(f.plausible_min <= f.clamp_min
            && f.clamp_min < f.clamp_max
            && f.clamp_max <= f.plausible_max)
        {
            return Err(refuse(
                ModelLimit::FeatureRanges,
                at("clamp_min"),
                "need plausible_min <= clamp_min < clamp_max <= plausible_max",
            ));
        }
        match f.kind {
            FeatureKind::Binary => {
                if f.bits != 1 || f.clamp_min != 0.0 || f.clamp_max != 1.0 {
                    return Err(refuse(
                        ModelLimit::BinaryFeature,
                        at("bits"),
                        "a binary feature has bits 1 and clamp [0, 1]",
                    ));
                }
            }
            FeatureKind::Continuous => {
                if f.bits == 0 || f.bits > MAX_CODE_BITS {
                    return Err(refuse(
                        ModelLimit::CodeBits,
                        at("bits"),
                        format!("must be 1 to {MAX_CODE_BITS}"),
                    ));
                }
            }
            FeatureKind::Ordinal => check_ordinal(f, &at)?,
        }
        if f.kind != FeatureKind::Ordinal && !f.answers.is_empty() {
            return Err(refuse(
                ModelLimit::OrdinalFeature,
                at("answers"),
                "only an ordinal feature has answers",
            ));
        }
        if let Some(gate) = &f.counts_from {
            let source = doc.features.iter().find(|s| s.name == gate.feature);
            let valid = source.is_some_and(|s| {
                s.name != f.name && s.kind == FeatureKind::Continuous && s.counts_from.is_none()
            });
            if !valid || !gate.at_least.is_finite() {
                return Err(refuse(
                    ModelLimit::CountsFrom,
                    at("counts_from"),
                    "must name another, ungated continuous feature and a finite threshold",
                ));
            }
        }
        if doc.weights[i].unsigned_abs() > MAX_ABS_WEIGHT.unsigned_abs() {
            return Err(refuse(
                ModelLimit::WeightBits,
                format!("weights[{i}]"),
                format!("|w| must be <= {MAX_ABS_WEIGHT}"),
            ));
        }
    }
    if doc.bias.unsigned_abs() > MAX_ABS_BIAS.unsigned_abs() {
        return Err(refuse(
            ModelLimit::BiasBits,
            "bias",
            format!("|bias| must be <= {MAX_ABS_BIAS}"),
        ));
    }
    Ok(())
}

/// An ordinal feature: whole-number answers `plausible_min..=plausible_max`, one label each,
/// quantized without loss (each answer its own code, one code step per answer).
fn check_ordinal(f: &FeatureSpec, at: &dyn Fn(&str) -> String) -> Result<(), ModelError> {
    let (lo, hi) = (f.plausible_min, f.plausible_max);
    if lo.fract() != 0.0 || hi.fract() != 0.0 || f.clamp_min != lo || f.clamp_max != hi {
        return Err(refuse(
            ModelLimit::OrdinalFeature,
            at("clamp_min"),
            "an ordinal feature has whole-number bounds and clamp = plausible range",
        ));
    }
    // lo < hi (feature_ranges); a code of at most MAX_CODE_BITS bits has at most 256 answers.
    let most = 1usize << MAX_CODE_BITS;
    if hi - lo >= most as f64 {
        return Err(refuse(
            ModelLimit::OrdinalFeature,
            at("answers"),
            format!("an ordinal feature has at most {most} answers"),
        ));
    }
    let answers = (hi - lo) as usize + 1;
    if f.answers.len() != answers || f.answers.iter().any(|a| a.trim().is_empty()) {
        return Err(refuse(
            ModelLimit::OrdinalFeature,
            at("answers"),
            format!("must label each of the {answers} answers"),
        ));
    }
    if f.bits == 0 || f.bits > MAX_CODE_BITS || (1usize << f.bits) - 1 != answers - 1 {
        return Err(refuse(
            ModelLimit::OrdinalFeature,
            at("bits"),
            "an ordinal feature needs 2^bits - 1 = answers - 1 (one code step per answer)",
        ));
    }
    Ok(())
}

fn build_tables(doc: &ModelDocument) -> Result<Vec<DigitTable>, ModelError> {
    let s = doc.linear.grain_shift;
    if s > 30 {
        return Err(refuse(
            ModelLimit::GrainShift,
            "linear.grain_shift",
            "must be at most 30",
        ));
    }
    let mut tables = Vec::new();
    for (feature, (spec, &w)) in doc.features.iter().zip(&doc.weights).enumerate() {
        for position in 0..digit_count(spec.bits) {
            let top = max_digit(spec.bits, position);
            let values = (0..=top)
                .map(|d| truncated_shift(w * i64::from(d) * DIGIT_BASE.pow(position), s))
                .collect();
            tables.push(DigitTable {
                feature,
                position,
                values,
            });
        }
    }
    Ok(tables)
}

fn validate_linear(
    doc: &ModelDocument,
    tables: &[DigitTable],
    rounded_bias: i64,
) -> Result<(), ModelError> {
    let lo = rounded_bias + tables.iter().map(DigitTable::min).sum::<i64>();
    let hi = rounded_bias + tables.iter().map(DigitTable::max).sum::<i64>();
    if (lo, hi) != (doc.linear.logit_min, doc.linear.logit_max) {
        return Err(refuse(
            ModelLimit::LogitBounds,
            "linear.logit_min",
            format!(
                "declared bounds [{}, {}] differ from the computed [{lo}, {hi}]",
                doc.linear.logit_min, doc.linear.logit_max
            ),
        ));
    }
    let idx = &doc.index;
    if idx.bits == 0 || idx.bits > MAX_INDEX_BITS {
        return Err(refuse(
            ModelLimit::IndexBits,
            "index.bits",
            format!("must be 1 to {MAX_INDEX_BITS}"),
        ));
    }
    if !idx.shift.is_multiple_of(2) {
        return Err(refuse(
            ModelLimit::WholeDigits,
            "index.shift",
            "must be an even number (whole 2-bit digits)",
        ));
    }
    if idx.shift > MAX_INDEX_SHIFT {
        return Err(refuse(
            ModelLimit::IndexShift,
            "index.shift",
            format!("must be at most {MAX_INDEX_SHIFT}"),
        ));
    }
    let acc = doc.linear.accumulator_bits;
    if acc != idx.bits + idx.shift {
        return Err(refuse(
            ModelLimit::IndexTopDigits,
            "linear.accumulator_bits",
            "must equal index.bits + index.shift",
        ));
    }
    // In i128: a hostile offset must not overflow the check itself.
    let offset = i128::from(idx.offset);
    if i128::from(lo) + offset < 0 {
        return Err(refuse(
            ModelLimit::AccumulatorConstant,
            "index.offset",
            "logit_min + offset is negative: the accumulator could underflow",
        ));
    }
    if i128::from(hi) + offset >= 1i128 << acc {
        return Err(refuse(
            ModelLimit::AccumulatorOverflow,
            "linear.accumulator_bits",
            format!(
                "logit_max + offset does not fit in {acc} bits: the accumulator could overflow"
            ),
        ));
    }
    Ok(())
}

fn validate_lut(doc: &ModelDocument) -> Result<(), ModelError> {
    let expected = 1usize << doc.index.bits;
    if doc.lut.len() != expected {
        return Err(refuse(
            ModelLimit::TableLength,
            "lut",
            format!(
                "has {} entries, index.bits requires {expected}",
                doc.lut.len()
            ),
        ));
    }
    if let Some(i) = doc.lut.iter().position(|&p| p > doc.probability_scale) {
        return Err(refuse(
            ModelLimit::ProbabilityCodes,
            format!("lut[{i}]"),
            "exceeds probability_scale",
        ));
    }
    if let Some(i) = doc.lut.windows(2).position(|w| w[1] < w[0]) {
        return Err(refuse(
            ModelLimit::MonotoneTable,
            format!("lut[{}]", i + 1),
            "table must be monotone non-decreasing",
        ));
    }
    if doc.threshold > doc.probability_scale {
        return Err(refuse(
            ModelLimit::Threshold,
            "threshold",
            "exceeds probability_scale",
        ));
    }
    Ok(())
}
