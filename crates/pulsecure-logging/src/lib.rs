//! Logging for a tool that handles health data: whatever is logged passes two guards.
//!
//! 1. [`filter::carries_protected_field`]: an event with a field named like patient data or
//!    a secret (a model feature, `password`, `features`, …) is dropped before formatting —
//!    patient values are never logged, whatever the level.
//! 2. [`redact::redact`]: every formatted line (message and all fields) is scrubbed of UUIDs,
//!    e-mail addresses, SSNs, PEM blocks and long hex or base64 runs (key material) before
//!    it reaches the file.
//!
//! [`subscriber`] builds the whole pipeline over any writer, so tests exercise the real one.

pub mod filter;
pub mod redact;
pub mod writer;

use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, FilterFn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

pub use filter::{carries_protected_field, ALWAYS_PROTECTED};
pub use redact::redact;
pub use writer::RedactingMakeWriter;

/// The level used when none is configured: start/stop, unlocks, counts, errors — nothing
/// per patient.
pub const DEFAULT_LEVEL: &str = "info";

/// Build the subscriber: `level` is an `EnvFilter` directive (`info`, `debug`, …; an invalid
/// one falls back to [`DEFAULT_LEVEL`]), `protected` names more fields to drop (the model's
/// features), `writer` receives redacted lines.
pub fn subscriber<W>(
    level: &str,
    protected: Vec<String>,
    writer: W,
) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let level = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new(DEFAULT_LEVEL));
    let protected: Vec<String> = protected;
    let no_patient_fields = FilterFn::new(move |meta| !carries_protected_field(meta, &protected));
    let format = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_target(false)
        .with_writer(RedactingMakeWriter::new(writer));
    tracing_subscriber::registry().with(tracing_subscriber::Layer::with_filter(
        tracing_subscriber::Layer::with_filter(format, no_patient_fields),
        level,
    ))
}
