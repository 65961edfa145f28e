//! The evaluator: server key + model only. Bytes in, bytes out.

use tfhe::integer::IntegerRadixCiphertext;
use tfhe::safe_serialization::safe_deserialize_conformant;
use tfhe::shortint::Ciphertext;
use tfhe::{CompressedFheUint2, CompressedFheUint2ConformanceParams};

use pulsecure_core::ports::fhe::{Evaluator, FheError};
use pulsecure_core::Model;

use crate::circuit::{Circuit, CircuitPlan, PbsCount};
use crate::guard::ServerKeyGuard;
use crate::keys::{load_server_key, ServerKeyId};
use crate::model_fingerprint;
use crate::params::CIPHERTEXT_LIMIT;
use crate::result_switch::switch_block;
use crate::tfhe_backend::ShortintBackend;
use crate::wire::{self, REQUEST_MAGIC, RESPONSE_MAGIC};

/// Check a request before any key is loaded: its frame, its binding to `model` and
/// `key_id`, and every block's conformance to this build's parameter set. An evaluator that
/// checks this first spends no key decompression (about 0.4 s of CPU) on a request it would
/// refuse anyway. Returns the number of blocks.
pub fn check_request(
    request: &[u8],
    model: &[u8; 32],
    key_id: &ServerKeyId,
) -> Result<usize, FheError> {
    let envelope = wire::read(REQUEST_MAGIC, request, "request")?;
    envelope.check_binding(model, key_id, "request")?;
    let conformance = CompressedFheUint2ConformanceParams::from(crate::params::PARAMETERS);
    for bytes in &envelope.blocks {
        safe_deserialize_conformant::<CompressedFheUint2>(*bytes, CIPHERTEXT_LIMIT, &conformance)
            .map_err(|e| FheError::Malformed {
            what: "request",
            reason: e,
        })?;
    }
    Ok(envelope.blocks.len())
}

/// Evaluates one model under one server key. Holds no secret.
pub struct TfheEvaluator {
    /// The high-level key installed on one worker of its own, to decompress inputs; built
    /// once per evaluator (a key clone and a thread), not per request.
    input_guard: ServerKeyGuard,
    backend: ShortintBackend,
    circuit: Circuit<ShortintBackend>,
    key_id: ServerKeyId,
    model: [u8; 32],
    /// What an input ciphertext must conform to: the parameter set of this key.
    input_conformance: CompressedFheUint2ConformanceParams,
}

impl std::fmt::Debug for TfheEvaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TfheEvaluator")
            .field("key_id", &self.key_id)
            .finish()
    }
}

impl TfheEvaluator {
    /// Load a serialized compressed server key and compile the model.
    pub fn new(server_key_bytes: &[u8], model: &Model) -> Result<Self, FheError> {
        let plan = CircuitPlan::compile(model)?;
        let (input_key, key_id) = load_server_key(server_key_bytes)?;
        let input_guard = ServerKeyGuard::install(&input_key, 1)?;
        let input_conformance = CompressedFheUint2ConformanceParams::from(&input_key);
        let (integer_key, ..) = input_key.into_raw_parts();
        let backend = ShortintBackend::new(integer_key.into_raw_parts());
        let circuit = Circuit::new(&backend, plan);
        Ok(TfheEvaluator {
            input_guard,
            backend,
            circuit,
            key_id,
            model: model_fingerprint(model),
            input_conformance,
        })
    }

    /// The compiled circuit.
    pub fn circuit(&self) -> &Circuit<ShortintBackend> {
        &self.circuit
    }

    /// The backend (server key) of this evaluator.
    pub fn backend(&self) -> &ShortintBackend {
        &self.backend
    }

    /// The key set this evaluator serves.
    pub fn key_id(&self) -> ServerKeyId {
        self.key_id
    }

    /// Check a request's binding and read its blocks (size-limited, conformance-checked).
    pub fn decode_inputs(&self, request: &[u8]) -> Result<Vec<Ciphertext>, FheError> {
        let envelope = wire::read(REQUEST_MAGIC, request, "request")?;
        envelope.check_binding(&self.model, &self.key_id, "request")?;
        let conformance = self.input_conformance;
        let compressed = envelope
            .blocks
            .iter()
            .map(|bytes| {
                safe_deserialize_conformant::<CompressedFheUint2>(
                    *bytes,
                    CIPHERTEXT_LIMIT,
                    &conformance,
                )
                .map_err(|e| FheError::Malformed {
                    what: "request",
                    reason: e,
                })
            })
            .collect::<Result<Vec<_>, FheError>>()?;
        // Seeded ciphertexts expand for free; a modulus-switched one needs this key installed.
        self.input_guard.run(|| {
            compressed
                .iter()
                .map(|c| {
                    let (radix, ..) = c.decompress().into_raw_parts();
                    radix
                        .into_blocks()
                        .into_iter()
                        .next()
                        .ok_or(FheError::Malformed {
                            what: "request",
                            reason: "empty ciphertext".into(),
                        })
                })
                .collect::<Result<Vec<Ciphertext>, FheError>>()
        })
    }

    /// Evaluate and also report the bootstrappings of each stage. The response is
    /// compressed: the segment block keyswitched and modulus-switched, as the first steps of
    /// one more bootstrapping would ([`crate::result_switch`]), 1 379 bytes.
    pub fn evaluate_with_stats(&self, request: &[u8]) -> Result<(Vec<u8>, PbsCount), FheError> {
        let inputs = self.decode_inputs(request)?;
        let (segment, count) = self.circuit.evaluate(&self.backend, &inputs)?;
        let block = switch_block(self.backend.server_key(), &segment)?.to_bytes();
        Ok((
            wire::write(RESPONSE_MAGIC, &self.model, &self.key_id, &[block]),
            count,
        ))
    }
}

impl Evaluator for TfheEvaluator {
    fn evaluate(&self, request: &[u8]) -> Result<Vec<u8>, FheError> {
        self.evaluate_with_stats(request).map(|(bytes, _)| bytes)
    }
}
