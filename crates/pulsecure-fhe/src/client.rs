//! The client side: encrypts quantized inputs digit by digit, decrypts results.

use tfhe::prelude::FheTryEncrypt;
use tfhe::safe_serialization::safe_serialize;
use tfhe::{ClientKey, CompressedFheUint2};

use pulsecure_core::ports::fhe::{DecryptedResult, FheClient, FheError};
use pulsecure_core::{Model, QuantizedInput};

use crate::circuit::{CircuitPlan, SegmentResults};
use crate::keys::ServerKeyId;
use crate::layout::InputLayout;
use crate::model_fingerprint;
use crate::params::CIPHERTEXT_LIMIT;
use crate::result_decrypt::decrypt_result;
use crate::wire::{self, REQUEST_MAGIC, RESPONSE_MAGIC};

/// Holds the secret client key for one model. `Debug` never shows key material.
pub struct TfheClient {
    client_key: ClientKey,
    block_key: tfhe::shortint::ClientKey,
    key_id: ServerKeyId,
    model: [u8; 32],
    layout: InputLayout,
    segments: SegmentResults,
}

impl std::fmt::Debug for TfheClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TfheClient")
            .field("client_key", &"<redacted>")
            .field("input_blocks", &self.layout.block_count())
            .finish()
    }
}

impl TfheClient {
    /// Client for `model` with a client key and the id of its server key.
    pub fn new(
        model: &Model,
        client_key: ClientKey,
        key_id: ServerKeyId,
    ) -> Result<Self, FheError> {
        let plan = CircuitPlan::compile(model)?;
        let (integer_key, ..) = client_key.clone().into_raw_parts();
        Ok(TfheClient {
            block_key: integer_key.into_raw_parts(),
            client_key,
            key_id,
            model: model_fingerprint(model),
            layout: plan.layout().clone(),
            segments: plan.segment_results().clone(),
        })
    }

    /// The key set this client belongs to.
    pub fn key_id(&self) -> ServerKeyId {
        self.key_id
    }

    /// Encrypt one raw block value (benchmarks only).
    pub(crate) fn encrypt_block(&self, value: u64) -> tfhe::shortint::Ciphertext {
        self.block_key.encrypt(value)
    }
}

impl FheClient for TfheClient {
    fn encrypt(&self, input: &QuantizedInput) -> Result<Vec<u8>, FheError> {
        let blocks = self
            .layout
            .pack(input.digits())?
            .iter()
            .map(|&d| {
                let ct = CompressedFheUint2::try_encrypt(d, &self.client_key)
                    .map_err(|e| FheError::Evaluation(format!("encrypting: {e}")))?;
                let mut bytes = Vec::new();
                safe_serialize(&ct, &mut bytes, CIPHERTEXT_LIMIT)
                    .map_err(|e| FheError::Evaluation(format!("serializing a ciphertext: {e}")))?;
                Ok(bytes)
            })
            .collect::<Result<Vec<_>, FheError>>()?;
        Ok(wire::write(
            REQUEST_MAGIC,
            &self.model,
            &self.key_id,
            &blocks,
        ))
    }

    /// Reads a compressed (`PSR2`) result: one block, the segment keyswitched and
    /// modulus-switched, decrypted directly with the small secret key
    /// ([`crate::result_decrypt`]); refuses another model's or key's result, another block
    /// count or length, a trivial block, a phase outside the message space and a number that
    /// is not one of the model's segments.
    fn decrypt(&self, result: &[u8]) -> Result<DecryptedResult, FheError> {
        let envelope = wire::read(RESPONSE_MAGIC, result, "result")?;
        envelope.check_binding(&self.model, &self.key_id, "result")?;
        let [block] = envelope.blocks[..] else {
            return Err(FheError::Malformed {
                what: "result",
                reason: format!("{} blocks, expected 1", envelope.blocks.len()),
            });
        };
        decrypt_result(&self.block_key, block, &self.segments)
    }
}
