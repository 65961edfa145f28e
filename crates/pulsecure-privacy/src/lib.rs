//! OpenDP adapter: ε-differentially private releases over stored screenings.
//!
//! Every release is an OpenDP measurement — a stable transformation (count, clamp + sum,
//! count by categories) chained with OpenDP's Laplace mechanism (discrete Laplace on these
//! integer outputs, sampled with OpenDP's OpenSSL-backed secure sampler). The ε charged is
//! what the measurement's privacy map reports for neighbouring datasets at symmetric distance
//! 1 (one screening added or removed), never a hand computation.

mod measurements;

pub use measurements::OpenDpMechanism;
