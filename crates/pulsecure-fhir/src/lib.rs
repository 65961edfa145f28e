//! FHIR R4 in and out for Pulsecure: patients read from a `Bundle`, resources one per line,
//! or a Bulk Data export directory (NDJSON per resource type), mapped by one table
//! (`mapping/r4-map.json`, see `docs/fhir.md`) into the clinic columns the models read; and
//! results written back as `RiskAssessment` resources.
//!
//! An input adapter of its own (like `pulsecure-batch-input`, whose row and error types it
//! yields): it faces files from outside, holds no key and no model, and keeps memory bounded
//! by spilling what it extracts, encrypted, in partitions by patient.

pub mod extract;
pub mod fact;
pub mod map;
pub mod reader;
pub mod record;
pub mod resource;
pub mod risk_assessment;
pub mod source;
pub mod spill;
pub mod target;

pub use extract::Window;
pub use reader::{FhirItem, FhirReader, Progress, ReadOptions};
pub use record::{PatientRecord, RecordBody};
pub use source::{bulk_source, file_source, Source};
pub use target::{to_item, Target, UnmappedFeature};

/// A problem with the input as a whole: nothing of it can be read. Problems of one resource
/// or one patient are per-row errors instead. Never holds a value from the input.
#[derive(Debug, thiserror::Error)]
pub enum FhirError {
    /// A file or directory could not be read.
    #[error("reading {name}: {source}")]
    Io {
        /// The path.
        name: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The input is not FHIR this reader takes.
    #[error("{name}: {reason}")]
    Invalid {
        /// The path.
        name: String,
        /// What is wrong and what was expected.
        reason: String,
    },
    /// The temporary partition files failed.
    #[error(transparent)]
    Spill(#[from] spill::SpillError),
}
