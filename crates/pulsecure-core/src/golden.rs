//! The golden-vector file (`golden.json` beside each model): the contract test between the
//! Python pipeline, the reference engine and the encrypted engine. One typed reader, used by
//! every engine's tests, so the file's shape is checked in one place.

use serde::Deserialize;

/// One vector: a raw input and every intermediate of the integer pipeline.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GoldenVector {
    /// NHANES respondent number (sampled vectors only).
    #[serde(default)]
    pub seqn: Option<u64>,
    /// Which edge this vector sits on (edge vectors only): `clamp`, `rounding_tie`,
    /// `logit_min`, `logit_max` or `table_boundary`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Raw values in model order.
    pub raw: Vec<f64>,
    /// Quantized codes.
    pub x: Vec<u32>,
    /// The logit.
    pub logit: i64,
    /// The table index.
    pub index: u32,
    /// The probability code (1/4096 units).
    pub p: u32,
    /// The class.
    pub high: bool,
}

/// A whole golden file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GoldenFile {
    /// The model these vectors belong to.
    pub model_id: String,
    /// Its version.
    pub version: u64,
    /// Feature names in model order.
    pub features: Vec<String>,
    /// Vectors sampled from held-out participants.
    pub vectors: Vec<GoldenVector>,
    /// Vectors on the pipeline's edges (clamp bounds, rounding ties, extreme logits, every
    /// table boundary), derived from the model.
    #[serde(default)]
    pub edges: Vec<GoldenVector>,
}

impl GoldenFile {
    /// Parse a golden file.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Sampled and edge vectors together.
    pub fn all(&self) -> impl Iterator<Item = &GoldenVector> {
        self.vectors.iter().chain(&self.edges)
    }

    /// Edge vectors of one kind.
    pub fn edges_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a GoldenVector> {
        self.edges
            .iter()
            .filter(move |v| v.kind.as_deref() == Some(kind))
    }
}
