//! The client side: encrypts quantized inputs digit by digit, decrypts results.

use tfhe::prelude::FheTryEncrypt;
use tfhe::safe_serialization::{safe_deserialize_conformant, safe_serialize};
use tfhe::shortint::parameters::{CiphertextConformanceParams, Degree};
use tfhe::shortint::Ciphertext;
use tfhe::{ClientKey, CompressedFheUint2};

use pulsecure_core::ports::fhe::{DecryptedResult, FheClient, FheError};
use pulsecure_core::{Model, QuantizedInput};

use crate::circuit::{probability_from_nibbles, CircuitPlan};
use crate::keys::ServerKeyId;
use crate::layout::InputLayout;
use crate::model_fingerprint;
use crate::params::CIPHERTEXT_LIMIT;
use crate::wire::{self, REQUEST_MAGIC, RESPONSE_MAGIC};

/// Holds the secret client key for one model. `Debug` never shows key material.
pub struct TfheClient {
    client_key: ClientKey,
    block_key: tfhe::shortint::ClientKey,
    key_id: ServerKeyId,
    model: [u8; 32],
    layout: InputLayout,
    nibble_count: usize,
    output_degrees: Vec<u64>,
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
            nibble_count: plan.nibble_count(),
            output_degrees: plan.output_degrees(),
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

    /// Conformance of a result block: the client key's own parameter set (this build's, or
    /// an earlier build's for an installation whose keys predate it), the expected degree.
    fn output_params(&self, degree: u64) -> Result<CiphertextConformanceParams, FheError> {
        let parameters =
            self.block_key
                .parameters()
                .ap_parameters()
                .ok_or_else(|| FheError::Mismatch {
                    what: "client key",
                    reason: "not a keyswitch-bootstrap parameter set".into(),
                })?;
        let mut p = parameters.to_shortint_conformance_param();
        p.degree = Degree::new(degree);
        Ok(p)
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

    fn decrypt(&self, result: &[u8]) -> Result<DecryptedResult, FheError> {
        let envelope = wire::read(RESPONSE_MAGIC, result, "result")?;
        envelope.check_binding(&self.model, &self.key_id, "result")?;
        if envelope.blocks.len() != self.output_degrees.len() {
            return Err(FheError::Malformed {
                what: "result",
                reason: format!(
                    "{} blocks, expected {}",
                    envelope.blocks.len(),
                    self.output_degrees.len()
                ),
            });
        }
        let values = envelope
            .blocks
            .iter()
            .zip(&self.output_degrees)
            .map(|(bytes, &degree)| {
                let ct: Ciphertext = safe_deserialize_conformant(
                    *bytes,
                    CIPHERTEXT_LIMIT,
                    &self.output_params(degree)?,
                )
                .map_err(|e| FheError::Malformed {
                    what: "result",
                    reason: e,
                })?;
                refuse_trivial(&ct)?;
                Ok(self.block_key.decrypt_message_and_carry(&ct))
            })
            .collect::<Result<Vec<u64>, FheError>>()?;
        let (nibbles, class) = values.split_at(self.nibble_count);
        Ok(DecryptedResult {
            probability_code: probability_from_nibbles(nibbles),
            high_risk: class.first().copied() == Some(1),
        })
    }
}

/// Refuse a result block whose LWE mask is all zero: a *trivial* ciphertext, which anyone can
/// make without a key (its body is the plaintext in the clear). An honest evaluation ends
/// every output block with a bootstrapping, whose mask is uniformly random, so an all-zero
/// mask (probability 2^-(64·n)) means the block was forged, not computed.
pub(crate) fn refuse_trivial(ct: &Ciphertext) -> Result<(), FheError> {
    if ct.ct.get_mask().as_ref().iter().all(|&x| x == 0) {
        return Err(FheError::Malformed {
            what: "result",
            reason: "a block is a trivial (keyless, unencrypted) ciphertext".into(),
        });
    }
    Ok(())
}
