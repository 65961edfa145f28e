//! The evaluator for schema-2 models: decodes a request (the patient's packed digit blocks and
//! the group block), runs [`EquationCircuit`] on tfhe's shortint blocks and returns the index
//! digits. It holds the server key and the public model only.

use tfhe::integer::IntegerRadixCiphertext;
use tfhe::safe_serialization::safe_deserialize_conformant;
use tfhe::shortint::Ciphertext;
use tfhe::{
    CompressedFheBool, CompressedFheBoolConformanceParams, CompressedFheUint2,
    CompressedFheUint2ConformanceParams,
};

use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::ports::fhe::{Evaluator, FheError};

use crate::circuit::PbsCount;
use crate::equation_circuit::{EquationCircuit, EquationPlan};
use crate::equation_fingerprint;
use crate::guard::ServerKeyGuard;
use crate::keys::{load_server_key, KeyId};
use crate::params::CIPHERTEXT_LIMIT;
use crate::tfhe_backend::ShortintBackend;
use crate::wire::{self, REQUEST_MAGIC};

/// Evaluates one schema-2 model under one server key.
pub struct EquationEvaluator {
    input_guard: ServerKeyGuard,
    backend: ShortintBackend,
    circuit: EquationCircuit<ShortintBackend>,
    key_id: KeyId,
    model: [u8; 32],
    digit_conformance: CompressedFheUint2ConformanceParams,
    group_bool_conformance: CompressedFheBoolConformanceParams,
}

impl std::fmt::Debug for EquationEvaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EquationEvaluator")
            .field("key_id", &self.key_id)
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
    /// Load the server key and compile the model's circuit.
    pub fn new(server_key_bytes: &[u8], model: &EquationModel) -> Result<Self, FheError> {
        let plan = EquationPlan::compile(model)?;
        let (input_key, key_id) = load_server_key(server_key_bytes)?;
        let input_guard = ServerKeyGuard::install(&input_key, 1)?;
        let digit_conformance = CompressedFheUint2ConformanceParams::from(&input_key);
        let group_bool_conformance = CompressedFheBoolConformanceParams::from(&input_key);
        let (integer_key, ..) = input_key.into_raw_parts();
        let backend = ShortintBackend::new(integer_key.into_raw_parts());
        let circuit = EquationCircuit::new(&backend, plan);
        Ok(EquationEvaluator {
            input_guard,
            backend,
            circuit,
            key_id,
            model: equation_fingerprint(model),
            digit_conformance,
            group_bool_conformance,
        })
    }

    /// The id of the server key this evaluator holds.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The compiled circuit.
    pub fn circuit(&self) -> &EquationCircuit<ShortintBackend> {
        &self.circuit
    }

    /// Decode and decompress a request's blocks: the digit blocks, then the group block.
    fn decode(&self, request: &[u8]) -> Result<(Vec<Ciphertext>, Option<Ciphertext>), FheError> {
        let envelope = wire::read(REQUEST_MAGIC, request, "request")?;
        envelope.check_binding(&self.model, &self.key_id, "request")?;
        let plan = self.circuit.plan();
        let digits = plan.input_blocks();
        let with_group = plan.groups() > 1;
        if envelope.blocks.len() != digits + usize::from(with_group) {
            return Err(malformed(format!(
                "{} blocks, the model needs {}",
                envelope.blocks.len(),
                digits + usize::from(with_group)
            )));
        }
        let (digit_bytes, group_bytes) = envelope.blocks.split_at(digits);
        let compressed = digit_bytes
            .iter()
            .map(|bytes| {
                safe_deserialize_conformant::<CompressedFheUint2>(
                    *bytes,
                    CIPHERTEXT_LIMIT,
                    &self.digit_conformance,
                )
                .map_err(malformed)
            })
            .collect::<Result<Vec<_>, FheError>>()?;
        enum Group {
            Bool(CompressedFheBool),
            Two(CompressedFheUint2),
        }
        let group = match group_bytes.first() {
            None => None,
            Some(bytes) if plan.groups() <= 2 => Some(Group::Bool(
                safe_deserialize_conformant::<CompressedFheBool>(
                    *bytes,
                    CIPHERTEXT_LIMIT,
                    &self.group_bool_conformance,
                )
                .map_err(malformed)?,
            )),
            Some(bytes) => Some(Group::Two(
                safe_deserialize_conformant::<CompressedFheUint2>(
                    *bytes,
                    CIPHERTEXT_LIMIT,
                    &self.digit_conformance,
                )
                .map_err(malformed)?,
            )),
        };
        self.input_guard.run(|| {
            let first_block = |c: &CompressedFheUint2| {
                let (radix, ..) = c.decompress().into_raw_parts();
                radix
                    .into_blocks()
                    .into_iter()
                    .next()
                    .ok_or_else(|| malformed("empty ciphertext"))
            };
            let digits = compressed
                .iter()
                .map(first_block)
                .collect::<Result<Vec<Ciphertext>, FheError>>()?;
            let group = match &group {
                None => None,
                Some(Group::Bool(b)) => Some(b.decompress().into_raw_parts()),
                Some(Group::Two(c)) => Some(first_block(c)?),
            };
            Ok((digits, group))
        })
    }

    /// Evaluate and also report the bootstrappings of each stage.
    pub fn evaluate_with_stats(&self, request: &[u8]) -> Result<(Vec<u8>, PbsCount), FheError> {
        let (digits, group) = self.decode(request)?;
        let (outputs, count) = self
            .circuit
            .evaluate(&self.backend, &digits, group.as_ref())?;
        Ok((
            wire::write_response(&self.model, &self.key_id, &outputs)?,
            count,
        ))
    }
}

impl Evaluator for EquationEvaluator {
    fn evaluate(&self, request: &[u8]) -> Result<Vec<u8>, FheError> {
        self.evaluate_with_stats(request).map(|(bytes, _)| bytes)
    }
}
