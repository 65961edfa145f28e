//! Measurement helpers for `pulsecure bench` and the criterion benches: the single-PBS floor
//! with the same key and parameters, and tfhe's own bootstrapping counter.

use std::time::{Duration, Instant};

use tfhe::shortint::server_key::pbs_stats;

use pulsecure_core::ports::fhe::FheError;

use crate::backend::{table, Backend, MESSAGE_MODULUS};
use crate::circuit::Circuit;
use crate::result_switch::switch_block;
use crate::tfhe_backend::ShortintBackend;
use crate::{TfheClient, TfheEvaluator};

/// Time `n` single programmable bootstrappings (keyswitch + PBS) on this thread, with the
/// evaluator's key on a block encrypted by the client.
pub fn single_pbs(client: &TfheClient, evaluator: &TfheEvaluator, n: usize) -> Vec<Duration> {
    time_pbs_chain(evaluator.backend(), client.encrypt_block(1), n)
}

/// Time `n` chained keyswitch + bootstrappings of `block` through the identity on this thread.
fn time_pbs_chain(
    backend: &ShortintBackend,
    mut block: tfhe::shortint::Ciphertext,
    n: usize,
) -> Vec<Duration> {
    let lut = backend.lut(&table(|x| x % MESSAGE_MODULUS));
    (0..n)
        .map(|_| {
            let t = Instant::now();
            block = backend.apply(&block, &lut);
            t.elapsed()
        })
        .collect()
}

/// Time `n` compressions of a result block (keyswitch + modulus switch, what the evaluator
/// adds to an evaluation to send 1 379 bytes instead of a 16 546-byte block) on this thread.
pub fn result_switch(
    client: &TfheClient,
    evaluator: &TfheEvaluator,
    n: usize,
) -> Result<Vec<Duration>, FheError> {
    let block = client.encrypt_block(1);
    let key = evaluator.backend().server_key();
    (0..n)
        .map(|_| {
            let t = Instant::now();
            switch_block(key, &block)?;
            Ok(t.elapsed())
        })
        .collect()
}

/// Bootstrappings tfhe counted while running `f` (global counter: run nothing else meanwhile).
pub fn counted_pbs<T>(f: impl FnOnce() -> T) -> (T, u64) {
    pbs_stats::reset_pbs_count();
    let out = f();
    (out, pbs_stats::get_pbs_count())
}

/// One parameter set made ready to be measured on this project's circuit: keys made as
/// production makes them (tfhe's high-level keys without the OPRF key; the compressed server
/// key safe-serialized as a client uploads it) and the circuit prepared on the shortint key
/// inside. Several trials can then be timed alternately, so machine noise hits them alike.
pub struct ParameterTrial {
    /// tfhe's name of the set.
    pub name: &'static str,
    /// Client key plus compressed server key generation, per run.
    pub keygen: Vec<Duration>,
    /// Safe-serialized compressed server key (what a client uploads).
    pub server_key_bytes: usize,
    /// Decompressing the server key.
    pub decompress: Duration,
    block_key: tfhe::shortint::ClientKey,
    backend: ShortintBackend,
    circuit: Circuit<ShortintBackend>,
}

impl ParameterTrial {
    /// Make keys `keygen_runs` times (timed) and prepare the circuit of `plan`.
    pub fn prepare<P>(
        name: &'static str,
        parameters: P,
        plan: &crate::circuit::CircuitPlan,
        keygen_runs: usize,
    ) -> Result<Self, FheError>
    where
        P: Into<tfhe::shortint::AtomicPatternParameters> + Copy,
    {
        use tfhe::safe_serialization::safe_serialize;
        use tfhe::{ClientKey, CompressedServerKey, ConfigBuilder};

        let config = ConfigBuilder::with_custom_parameters(parameters)
            .use_dedicated_oprf_key(false)
            .build();
        let mut keygen = Vec::new();
        let mut keys = None;
        for _ in 0..keygen_runs.max(1) {
            let t = Instant::now();
            let client = ClientKey::generate(config);
            let server = CompressedServerKey::new(&client);
            keygen.push(t.elapsed());
            keys = Some((client, server));
        }
        let (client, compressed) =
            keys.ok_or_else(|| FheError::Evaluation("no key generated".into()))?;
        let mut bytes = Vec::new();
        safe_serialize(&compressed, &mut bytes, crate::params::SERVER_KEY_LIMIT)
            .map_err(|e| FheError::Evaluation(format!("serializing the server key: {e}")))?;
        let t = Instant::now();
        let server = compressed.decompress();
        let decompress = t.elapsed();
        let (integer_server, ..) = server.into_raw_parts();
        let backend = ShortintBackend::new(integer_server.into_raw_parts());
        let (integer_client, ..) = client.into_raw_parts();
        let circuit = Circuit::new(&backend, plan.clone());
        Ok(ParameterTrial {
            name,
            keygen,
            server_key_bytes: bytes.len(),
            decompress,
            block_key: integer_client.into_raw_parts(),
            backend,
            circuit,
        })
    }

    /// Time `n` single keyswitch + bootstrappings on this thread.
    pub fn time_pbs(&self, n: usize) -> Vec<Duration> {
        time_pbs_chain(&self.backend, self.block_key.encrypt(1), n)
    }

    /// Encrypt `blocks` (values already laid out), evaluate once on the current thread pool
    /// and compress the result as the evaluator does (timed together), then decrypt it as the
    /// client does: the time, the probability code and the class.
    pub fn evaluate(&self, blocks: &[u8]) -> Result<(Duration, u32, bool), FheError> {
        let inputs: Vec<_> = blocks
            .iter()
            .map(|&v| self.block_key.encrypt(u64::from(v)))
            .collect();
        let t = Instant::now();
        let (segment, _) = self.circuit.evaluate(&self.backend, &inputs)?;
        let block = switch_block(self.backend.server_key(), &segment)?.to_bytes();
        let elapsed = t.elapsed();
        let result = crate::result_decrypt::decrypt_result(
            &self.block_key,
            &block,
            self.circuit.plan().segment_results(),
        )?;
        Ok((elapsed, result.probability_code, result.high_risk))
    }
}

/// Today's parameter set and the one it is measured against (issue 21): the same
/// 2-bit-message/2-bit-carry blocks, dimensions, 128-bit security and 2^-129.6 failure
/// probability per bootstrapping; today's keyswitches into 32-bit ciphertexts, the earlier
/// (classic) set in 64-bit ones.
pub fn parameter_trials(
    plan: &crate::circuit::CircuitPlan,
    keygen_runs: usize,
) -> Result<Vec<ParameterTrial>, FheError> {
    use crate::params::{EARLIER_PARAMETERS, EARLIER_PARAMETERS_NAME, PARAMETERS, PARAMETERS_NAME};
    Ok(vec![
        ParameterTrial::prepare(
            EARLIER_PARAMETERS_NAME,
            EARLIER_PARAMETERS,
            plan,
            keygen_runs,
        )?,
        ParameterTrial::prepare(PARAMETERS_NAME, PARAMETERS, plan, keygen_runs)?,
    ])
}
