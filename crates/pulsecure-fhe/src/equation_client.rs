//! The data owner's side for schema-2 models: encrypts a patient's slots (see
//! [`crate::equation_lwe`]) and decrypts the evaluator's outputs into the accumulator.

use tfhe::core_crypto::commons::generators::DeterministicSeeder;
use tfhe::core_crypto::prelude::{
    decrypt_lwe_ciphertext, encrypt_seeded_lwe_ciphertext, new_seeder, DefaultRandomGenerator,
    LweCiphertextOwned, Plaintext, Seeder,
};
use tfhe::ClientKey;

use pulsecure_core::domain::equation_model::{EncodedPatient, EquationModel};
use pulsecure_core::ports::fhe::FheError;

use crate::equation_evaluator::{apply, compressed_response};
use crate::equation_fingerprint;
use crate::equation_lwe::{noise_bound_log2, LinearMap};
use crate::keys::ServerKeyId;
use crate::lwe_wire::{seeded_slot, slot_bytes};
use crate::wire::{self, REQUEST_MAGIC, RESPONSE_MAGIC};

/// Encrypts requests and decrypts results for one schema-2 model under one client key.
pub struct EquationClient {
    block_key: tfhe::shortint::ClientKey,
    key_id: ServerKeyId,
    model: [u8; 32],
    document: EquationModel,
    map: LinearMap,
}

impl std::fmt::Debug for EquationClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EquationClient")
            .field("client_key", &"<redacted>")
            .field("slots", &self.map.slots())
            .finish()
    }
}

fn malformed(reason: impl Into<String>) -> FheError {
    FheError::Malformed {
        what: "result",
        reason: reason.into(),
    }
}

impl EquationClient {
    /// A client for `model` with the data owner's key. Refuses a key whose encryption key
    /// is not the size the model's map was proven for, or whose fresh noise is unbounded or
    /// larger than the bound the proof used.
    pub fn new(
        model: &EquationModel,
        client_key: ClientKey,
        key_id: ServerKeyId,
    ) -> Result<Self, FheError> {
        let map = LinearMap::compile(model)?;
        let (integer_key, ..) = client_key.into_raw_parts();
        let block_key = integer_key.into_raw_parts();
        let (key, noise) = block_key.encryption_key_and_noise();
        if key.lwe_dimension() != map.dimension() {
            return Err(FheError::Mismatch {
                what: "client key",
                reason: "its encryption key is not the size the model's map needs".into(),
            });
        }
        if noise_bound_log2(noise).is_none_or(|b| b > map.noise_log2()) {
            return Err(FheError::Mismatch {
                what: "client key",
                reason: "its fresh noise is not within the bound the model's map was proven for"
                    .into(),
            });
        }
        Ok(EquationClient {
            block_key,
            key_id,
            model: equation_fingerprint(model),
            document: model.clone(),
            map,
        })
    }

    /// The server key id requests are bound to.
    pub fn key_id(&self) -> ServerKeyId {
        self.key_id
    }

    /// Encrypt one encoded patient into a request frame: one seeded LWE ciphertext per slot.
    pub fn encrypt(&self, patient: &EncodedPatient) -> Result<Vec<u8>, FheError> {
        if patient.group >= self.document.group_count()
            || patient.codes.len() != self.document.encoded_terms().len()
        {
            return Err(FheError::Mismatch {
                what: "patient",
                reason: "not encoded for this model".into(),
            });
        }
        let values = self.document.slot_values(patient);
        let (key, noise) = self.block_key.encryption_key_and_noise();
        // tfhe's own path: a CSPRNG seeded once from the OS/hardware seeder, so no raw
        // hardware output becomes a public mask seed.
        let mut seeder = DeterministicSeeder::<DefaultRandomGenerator>::new(new_seeder().seed());
        let blocks: Vec<Vec<u8>> = values
            .into_iter()
            .map(|v| {
                let seed = seeder.seed().0;
                let mut ct = seeded_slot(seed, self.map.dimension());
                encrypt_seeded_lwe_ciphertext(
                    &key,
                    &mut ct,
                    Plaintext(LinearMap::encode(v)),
                    noise,
                    &mut seeder,
                );
                slot_bytes(seed, &ct).to_vec()
            })
            .collect();
        let mut seeds: Vec<&[u8]> = blocks.iter().map(|b| &b[..16]).collect();
        seeds.sort_unstable();
        seeds.dedup();
        if seeds.len() != blocks.len() {
            return Err(FheError::Evaluation(
                "the random generator repeated a mask seed; nothing was sent".into(),
            ));
        }
        Ok(wire::write(
            REQUEST_MAGIC,
            &self.model,
            &self.key_id,
            &blocks,
        ))
    }

    /// The model's public linear map of `request`'s slots — the outputs an honest evaluator
    /// computes — and the only response it may send: their compressed `PSR2` frame. Refuses
    /// a request made for another model or key set.
    fn predicted(
        &self,
        request: &[u8],
    ) -> Result<(Vec<LweCiphertextOwned<u64>>, Vec<u8>), FheError> {
        let envelope = wire::read(REQUEST_MAGIC, request, "request")?;
        envelope.check_binding(&self.model, &self.key_id, "request")?;
        let outputs = apply(&self.map, &envelope.blocks)?;
        let frame = compressed_response(&self.model, &self.key_id, &outputs);
        Ok((outputs, frame))
    }

    /// Decrypt `result`, the answer to `request`, into the accumulator plus offset
    /// (`acc + offset`).
    ///
    /// `request` must be one this client encrypted, kept by the caller where nobody else can
    /// change it (in memory for a direct screening, in the sealed and authenticated
    /// `queued_jobs` row for a queued one): given a request from elsewhere, the check below
    /// would accept that request's own map, and the reaction to the decrypted value would
    /// become an oracle.
    ///
    /// Before decrypting anything, refuses a response that is not exactly the compressed frame
    /// of the model's public linear map of `request` — bound to this model and key, one body
    /// per output, each the predicted one — so a crafted result learns nothing from the
    /// client's reaction. What is decrypted is then the client's own recomputed ciphertexts
    /// (the masks never travel), checked again as defence in depth: not trivial (keyless),
    /// noise within each output's proven bound, each output value one a valid patient
    /// reaches, and the recombined accumulator inside the model's bounds.
    pub fn decrypt(&self, request: &[u8], result: &[u8]) -> Result<u64, FheError> {
        self.decrypt_with_noise(request, result)
            .map(|(value, _)| value)
    }

    /// [`Self::decrypt`], also returning each output's measured |noise| (for benchmarks and
    /// tests of the proven bounds).
    pub fn decrypt_with_noise(
        &self,
        request: &[u8],
        result: &[u8],
    ) -> Result<(u64, Vec<u64>), FheError> {
        let (values, noises) = self.decrypt_outputs(request, result)?;
        let value = self
            .map
            .recombine(&values)
            .ok_or_else(|| malformed("the accumulator is outside the model's range"))?;
        Ok((value, noises))
    }

    /// Every output's decrypted value (`A_j + offset_j`, each checked against its noise bound
    /// and its range) and measured |noise|, before recombination.
    pub fn decrypt_outputs(
        &self,
        request: &[u8],
        result: &[u8],
    ) -> Result<(Vec<u64>, Vec<u64>), FheError> {
        let (predicted, frame) = self.predicted(request)?;
        if frame != result {
            if result.get(..4) != Some(RESPONSE_MAGIC.as_slice()) {
                // Say why (an older evaluator's frame, or none of ours), not only that it differs.
                wire::read(RESPONSE_MAGIC, result, "result")?;
            }
            return Err(malformed(
                "not the model's linear map of the request it answers (nothing was decrypted)",
            ));
        }
        // The result is exactly the prediction: what is decrypted is the client's own
        // computation, checked again below as defence in depth.
        let outputs = self.map.outputs();
        if predicted.len() != outputs.len() {
            return Err(malformed(format!(
                "{} outputs, expected {}",
                predicted.len(),
                outputs.len()
            )));
        }
        let (key, _) = self.block_key.encryption_key_and_noise();
        let mut values = Vec::with_capacity(outputs.len());
        let mut noises = Vec::with_capacity(outputs.len());
        for (j, (ct, output)) in predicted.iter().zip(outputs).enumerate() {
            if ct.get_mask().as_ref().iter().all(|&a| a == 0) {
                return Err(malformed(format!(
                    "output {j} is a trivial (keyless) ciphertext"
                )));
            }
            let Plaintext(plaintext) = decrypt_lwe_ciphertext(&key, ct);
            let (value, noise) = LinearMap::decode(plaintext);
            if noise > output.noise_bound() {
                return Err(malformed(format!(
                    "output {j}'s noise exceeds what the model's linear map can produce"
                )));
            }
            if value > output.top() {
                return Err(malformed(format!(
                    "output {j} is outside the model's range"
                )));
            }
            values.push(value);
            noises.push(noise);
        }
        Ok((values, noises))
    }
}

impl pulsecure_core::ports::fhe::EquationFheClient for EquationClient {
    fn encrypt(&self, patient: &EncodedPatient) -> Result<Vec<u8>, FheError> {
        EquationClient::encrypt(self, patient)
    }

    fn decrypt(&self, request: &[u8], result: &[u8]) -> Result<u64, FheError> {
        EquationClient::decrypt(self, request, result)
    }
}
