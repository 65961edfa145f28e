//! The evaluator for schema-2 models: reads a request's slots (seeded LWE ciphertexts, see
//! [`crate::equation_lwe`]), computes one weighted sum per encrypted output with the model's
//! public integer weights (the digits of the slot weights) and returns one LWE ciphertext per
//! output (one, the accumulator, for a single-output model). Linear only: no bootstrapping
//! and no key material — the request is bound to the uploader's key id, which the evaluator
//! checks like every other request.

use tfhe::core_crypto::prelude::{
    lwe_ciphertext_add_assign, lwe_ciphertext_cleartext_mul_assign,
    lwe_ciphertext_plaintext_add_assign, Cleartext, LweCiphertext, LweCiphertextOwned, Plaintext,
};

use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::ports::fhe::{Evaluator, FheError};

use crate::equation_fingerprint;
use crate::equation_lwe::LinearMap;
use crate::keys::ServerKeyId;
use crate::lwe_wire::{body_bytes, read_slot};
use crate::wire::{self, REQUEST_MAGIC, RESPONSE_MAGIC};

/// Evaluates one schema-2 model for requests bound to one key set.
pub struct EquationEvaluator {
    map: LinearMap,
    key_id: ServerKeyId,
    model: [u8; 32],
}

impl std::fmt::Debug for EquationEvaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EquationEvaluator")
            .field("key_id", &self.key_id)
            .field("slots", &self.map.slots())
            .finish()
    }
}

fn malformed(reason: impl Into<String>) -> FheError {
    FheError::Malformed {
        what: "request",
        reason: reason.into(),
    }
}

impl EquationEvaluator {
    /// An evaluator for `model`, answering requests bound to the key set whose compressed
    /// server key is `server_key_bytes` (only its id is kept: the linear map needs no key).
    pub fn new(server_key_bytes: &[u8], model: &EquationModel) -> Result<Self, FheError> {
        Ok(EquationEvaluator {
            map: LinearMap::compile(model)?,
            key_id: ServerKeyId::of_key(server_key_bytes),
            model: equation_fingerprint(model),
        })
    }

    /// The id of the key set this evaluator answers for.
    pub fn key_id(&self) -> ServerKeyId {
        self.key_id
    }

    /// The model's linear map.
    pub fn map(&self) -> &LinearMap {
        &self.map
    }
}

/// The model's linear map applied to a request's slots: one LWE ciphertext per output.
/// Deterministic and public, so the client recomputes it from the request it sent and
/// accepts only a response that is exactly this (no result it did not predict is ever
/// decrypted: a crafted result cannot probe the key or the patient through the client's
/// reaction).
pub fn apply(map: &LinearMap, blocks: &[&[u8]]) -> Result<Vec<LweCiphertextOwned<u64>>, FheError> {
    if blocks.len() != map.slots() {
        return Err(malformed(format!(
            "{} slots, the model needs {}",
            blocks.len(),
            map.slots()
        )));
    }
    let slots = blocks
        .iter()
        .map(|bytes| read_slot(bytes, map.dimension()))
        .collect::<Result<Vec<_>, FheError>>()?;
    Ok(map
        .outputs()
        .iter()
        .map(|output| {
            let mut sum =
                LweCiphertext::new(0u64, map.dimension().to_lwe_size(), LinearMap::modulus());
            for (slot, &weight) in slots.iter().zip(output.weights()) {
                let mut term = slot.clone();
                // Two's complement: multiplying by the weight's bit pattern is multiplying
                // by the weight modulo 2^64.
                lwe_ciphertext_cleartext_mul_assign(&mut term, Cleartext(weight as u64));
                lwe_ciphertext_add_assign(&mut sum, &term);
            }
            lwe_ciphertext_plaintext_add_assign(
                &mut sum,
                Plaintext(LinearMap::encode(output.offset() as u64)),
            );
            sum
        })
        .collect())
}

/// The compressed response carrying `results`: a `PSR2` frame of their bodies, 8 bytes per
/// output (the masks are the public map of the request's, which the client recomputes).
pub fn compressed_response(
    model: &[u8; 32],
    key_id: &ServerKeyId,
    results: &[LweCiphertextOwned<u64>],
) -> Vec<u8> {
    let bodies: Vec<Vec<u8>> = results.iter().map(|ct| body_bytes(ct).to_vec()).collect();
    wire::write(RESPONSE_MAGIC, model, key_id, &bodies)
}

impl Evaluator for EquationEvaluator {
    /// Refuses a request for another model or key, a slot count other than the model's, a
    /// slot that is not exactly one seeded LWE ciphertext ([`crate::lwe_wire`]), and a
    /// version-2 request (an older client, which cannot read the compressed answer). Answers
    /// with the outputs' bodies only ([`compressed_response`]).
    fn evaluate(&self, request: &[u8]) -> Result<Vec<u8>, FheError> {
        let envelope = wire::read(REQUEST_MAGIC, request, "request")?;
        envelope.check_binding(&self.model, &self.key_id, "request")?;
        let results = apply(&self.map, &envelope.blocks)?;
        Ok(compressed_response(&self.model, &self.key_id, &results))
    }
}
