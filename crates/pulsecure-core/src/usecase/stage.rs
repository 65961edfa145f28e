//! The stages of one screening and the time each took: reported by both halves of the
//! client side ([`crate::usecase::client_side`]) and by the direct transport
//! ([`crate::usecase::inference`]).

use std::time::Duration;

/// The stages of one screening, reported to progress observers (CLI bar, TUI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Quantizing validated values on the client.
    Normalize,
    /// Encrypting on the client.
    Encrypt,
    /// Homomorphic evaluation on the server.
    Evaluate,
    /// Decrypting on the client.
    Decrypt,
}

impl Stage {
    /// Every stage in order.
    pub const ALL: [Stage; 4] = [
        Stage::Normalize,
        Stage::Encrypt,
        Stage::Evaluate,
        Stage::Decrypt,
    ];

    /// Display name.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Normalize => "normalize",
            Stage::Encrypt => "encrypt",
            Stage::Evaluate => "evaluate",
            Stage::Decrypt => "decrypt",
        }
    }
}

/// Time spent in each stage.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StageTimings {
    /// Quantization.
    pub normalize: Duration,
    /// Encryption.
    pub encrypt: Duration,
    /// Server evaluation.
    pub evaluate: Duration,
    /// Decryption.
    pub decrypt: Duration,
}
