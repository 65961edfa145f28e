//! The evaluator: server key + model only. Bytes in, bytes out.

use tfhe::safe_serialization::{safe_deserialize_conformant, safe_serialize};
use tfhe::shortint::ciphertext::CompressedCiphertext;
use tfhe::shortint::Ciphertext;

use pulsecure_core::ports::fhe::{Evaluator, FheError};
use pulsecure_core::Model;

use crate::circuit::{Circuit, CircuitPlan, PbsCount};
use crate::keys::{load_server_key, KeyId};
use crate::params::{CIPHERTEXT_LIMIT, PARAMETERS};
use crate::tfhe_backend::ShortintBackend;
use crate::wire::{self, REQUEST_MAGIC, RESPONSE_MAGIC};
use crate::model_fingerprint;

/// Evaluates one model under one server key. Holds no secret.
pub struct TfheEvaluator {
    backend: ShortintBackend,
    circuit: Circuit<ShortintBackend>,
    key_id: KeyId,
    model: [u8; 32],
}

impl std::fmt::Debug for TfheEvaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TfheEvaluator").field("key_id", &self.key_id).finish()
    }
}

impl TfheEvaluator {
    /// Load a serialized compressed server key and compile the model.
    pub fn new(server_key_bytes: &[u8], model: &Model) -> Result<Self, FheError> {
        let plan = CircuitPlan::compile(model)?;
        let (key, key_id) = load_server_key(server_key_bytes)?;
        let backend = ShortintBackend::new(key);
        let circuit = Circuit::new(&backend, plan);
        Ok(TfheEvaluator {
            backend,
            circuit,
            key_id,
            model: model_fingerprint(model),
        })
    }

    /// The key set this evaluator serves.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Evaluate and also report the bootstrappings of each stage.
    pub fn evaluate_with_stats(&self, request: &[u8]) -> Result<(Vec<u8>, PbsCount), FheError> {
        let envelope = wire::read(REQUEST_MAGIC, request, "request")?;
        if envelope.model != self.model {
            return Err(FheError::Mismatch {
                what: "request",
                reason: "encrypted for another model".into(),
            });
        }
        if envelope.key_id != self.key_id {
            return Err(FheError::Mismatch {
                what: "request",
                reason: "encrypted under another key set".into(),
            });
        }
        let conformance = PARAMETERS.to_shortint_conformance_param();
        let inputs = envelope
            .blocks
            .iter()
            .map(|bytes| {
                let ct: CompressedCiphertext =
                    safe_deserialize_conformant(*bytes, CIPHERTEXT_LIMIT, &conformance).map_err(|e| {
                        FheError::Malformed {
                            what: "request",
                            reason: e,
                        }
                    })?;
                Ok(ct.decompress())
            })
            .collect::<Result<Vec<Ciphertext>, FheError>>()?;
        let (outputs, count) = self.circuit.evaluate(&self.backend, &inputs)?;
        let blocks = outputs
            .nibbles
            .iter()
            .chain(std::iter::once(&outputs.class))
            .map(|ct| {
                let mut bytes = Vec::new();
                safe_serialize(ct, &mut bytes, CIPHERTEXT_LIMIT)
                    .map_err(|e| FheError::Evaluation(format!("serializing a result: {e}")))?;
                Ok(bytes)
            })
            .collect::<Result<Vec<_>, FheError>>()?;
        Ok((wire::write(RESPONSE_MAGIC, &self.model, &self.key_id, &blocks), count))
    }
}

impl Evaluator for TfheEvaluator {
    fn evaluate(&self, request: &[u8]) -> Result<Vec<u8>, FheError> {
        self.evaluate_with_stats(request).map(|(bytes, _)| bytes)
    }
}
