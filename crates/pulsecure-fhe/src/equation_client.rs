//! The data owner's side for schema-2 models: encrypts a patient's encoded terms (digit blocks
//! and the group block) and decrypts the index digits the evaluator returns.

use tfhe::prelude::FheTryEncrypt;
use tfhe::safe_serialization::{safe_deserialize_conformant, safe_serialize};
use tfhe::shortint::parameters::{Degree, NoiseLevel};
use tfhe::shortint::Ciphertext;
use tfhe::{ClientKey, CompressedFheBool, CompressedFheUint2};

use pulsecure_core::domain::equation_model::{EncodedPatient, EquationModel};
use pulsecure_core::ports::fhe::FheError;

use crate::client::refuse_trivial;
use crate::equation_circuit::{output_columns, EquationPlan, OutputColumn};
use crate::equation_fingerprint;
use crate::keys::KeyId;
use crate::params::CIPHERTEXT_LIMIT;
use crate::wire::{self, REQUEST_MAGIC, RESPONSE_MAGIC};

/// Encrypts requests and decrypts results for one schema-2 model under one client key.
pub struct EquationClient {
    client_key: ClientKey,
    block_key: tfhe::shortint::ClientKey,
    key_id: KeyId,
    model: [u8; 32],
    plan: EquationPlan,
    /// Each index column of a result: sent with its degree and noise level, or a constant.
    output_columns: Vec<OutputColumn>,
    index_max: u32,
}

impl std::fmt::Debug for EquationClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EquationClient")
            .field("client_key", &"<redacted>")
            .field("input_blocks", &self.plan.input_blocks())
            .finish()
    }
}

fn serialization_error(e: impl std::fmt::Display) -> FheError {
    FheError::Evaluation(format!("serializing a ciphertext: {e}"))
}

impl EquationClient {
    /// A client for `model` with the data owner's key.
    pub fn new(
        model: &EquationModel,
        client_key: ClientKey,
        key_id: KeyId,
    ) -> Result<Self, FheError> {
        let plan = EquationPlan::compile(model)?;
        let output_columns = output_columns(&plan)?;
        let (integer_key, ..) = client_key.clone().into_raw_parts();
        Ok(EquationClient {
            block_key: integer_key.into_raw_parts(),
            client_key,
            key_id,
            model: equation_fingerprint(model),
            plan,
            output_columns,
            index_max: model.index().max,
        })
    }

    /// The server key id requests are bound to.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Encrypt one encoded patient into a request frame: the packed digit blocks, then (with
    /// more than one coefficient set) the group block.
    pub fn encrypt(&self, patient: &EncodedPatient) -> Result<Vec<u8>, FheError> {
        let encrypt_error = |e: tfhe::Error| FheError::Evaluation(format!("encrypting: {e}"));
        let mut blocks = self
            .plan
            .pack(&patient.digits)?
            .into_iter()
            .map(|v| {
                let ct =
                    CompressedFheUint2::try_encrypt(v, &self.client_key).map_err(encrypt_error)?;
                let mut bytes = Vec::new();
                safe_serialize(&ct, &mut bytes, CIPHERTEXT_LIMIT).map_err(serialization_error)?;
                Ok(bytes)
            })
            .collect::<Result<Vec<_>, FheError>>()?;
        let groups = self.plan.groups();
        if patient.group >= groups {
            return Err(FheError::Mismatch {
                what: "patient",
                reason: "group out of range".into(),
            });
        }
        let mut bytes = Vec::new();
        if groups == 2 {
            let ct = CompressedFheBool::try_encrypt(patient.group == 1, &self.client_key)
                .map_err(encrypt_error)?;
            safe_serialize(&ct, &mut bytes, CIPHERTEXT_LIMIT).map_err(serialization_error)?;
            blocks.push(bytes);
        } else if groups > 2 {
            let ct = CompressedFheUint2::try_encrypt(patient.group as u8, &self.client_key)
                .map_err(encrypt_error)?;
            safe_serialize(&ct, &mut bytes, CIPHERTEXT_LIMIT).map_err(serialization_error)?;
            blocks.push(bytes);
        }
        Ok(wire::write(
            REQUEST_MAGIC,
            &self.model,
            &self.key_id,
            &blocks,
        ))
    }

    /// Decrypt a result frame into the index; refuses a frame for another model or key, a
    /// block count or degree other than the circuit's, a trivial (keyless) block, and an index
    /// the model's table does not have.
    pub fn decrypt(&self, result: &[u8]) -> Result<u32, FheError> {
        let envelope = wire::read(RESPONSE_MAGIC, result, "result")?;
        envelope.check_binding(&self.model, &self.key_id, "result")?;
        let sent: Vec<(u64, u64)> = self
            .output_columns
            .iter()
            .filter_map(|c| match c {
                OutputColumn::Sent { degree, noise } => Some((*degree, *noise)),
                OutputColumn::Constant(_) => None,
            })
            .collect();
        if envelope.blocks.len() != sent.len() {
            return Err(FheError::Malformed {
                what: "result",
                reason: format!("{} blocks, expected {}", envelope.blocks.len(), sent.len()),
            });
        }
        let parameters =
            self.block_key
                .parameters()
                .ap_parameters()
                .ok_or_else(|| FheError::Mismatch {
                    what: "client key",
                    reason: "not a keyswitch-bootstrap parameter set".into(),
                })?;
        let received = envelope
            .blocks
            .iter()
            .zip(&sent)
            .map(|(bytes, &(degree, noise))| {
                let mut conformance = parameters.to_shortint_conformance_param();
                conformance.degree = Degree::new(degree);
                conformance.noise_level = NoiseLevel::NOMINAL * noise;
                let ct: Ciphertext =
                    safe_deserialize_conformant(*bytes, CIPHERTEXT_LIMIT, &conformance).map_err(
                        |e| FheError::Malformed {
                            what: "result",
                            reason: e,
                        },
                    )?;
                refuse_trivial(&ct)?;
                Ok(self.block_key.decrypt_message_and_carry(&ct))
            })
            .collect::<Result<Vec<u64>, FheError>>()?;
        let index = EquationPlan::index_from_columns(&self.output_columns, &received).ok_or(
            FheError::Malformed {
                what: "result",
                reason: "block count".into(),
            },
        )?;
        if index > u64::from(self.index_max) {
            return Err(FheError::Malformed {
                what: "result",
                reason: "the index is outside the model's table".into(),
            });
        }
        Ok(index as u32)
    }
}

impl pulsecure_core::ports::fhe::EquationFheClient for EquationClient {
    fn encrypt(&self, patient: &EncodedPatient) -> Result<Vec<u8>, FheError> {
        EquationClient::encrypt(self, patient)
    }

    fn decrypt(&self, result: &[u8]) -> Result<u32, FheError> {
        EquationClient::decrypt(self, result)
    }
}
