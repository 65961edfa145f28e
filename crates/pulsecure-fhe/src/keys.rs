//! Key generation and loading (tfhe's high-level key types, so they serialize with tfhe's
//! safe, versioned, conformance-checked format).

use tfhe::safe_serialization::safe_deserialize_conformant;
#[cfg(feature = "client")]
use tfhe::safe_serialization::{safe_deserialize, safe_serialize};
#[cfg(feature = "client")]
use tfhe::ClientKey;
use tfhe::{CompressedServerKey, Config, ConfigBuilder, ServerKey};
#[cfg(feature = "client")]
use zeroize::Zeroizing;

use pulsecure_core::ports::fhe::FheError;

#[cfg(feature = "client")]
use crate::params::CLIENT_KEY_LIMIT;
use crate::params::{EARLIER_PARAMETERS, PARAMETERS, SERVER_KEY_LIMIT};

pub use crate::server_key_id::ServerKeyId;

/// The tfhe configuration of every key made now: our parameter set and nothing else — in
/// particular no dedicated OPRF key, which tfhe 1.8 adds by default (a second bootstrapping
/// key for encrypted randomness the circuit never draws; it doubled the server key an
/// evaluator has to receive, from 30 to 60 MB).
pub fn config() -> Config {
    ConfigBuilder::with_custom_parameters(PARAMETERS)
        .use_dedicated_oprf_key(false)
        .build()
}

/// The configurations of keys made by earlier builds: the classic parameter set, without
/// the OPRF key (the builds of 2026-12-01) and with it (tfhe's default, the builds before).
/// Their server keys stay readable, so existing installations keep working.
fn earlier_configs() -> [Config; 2] {
    [
        ConfigBuilder::with_custom_parameters(EARLIER_PARAMETERS)
            .use_dedicated_oprf_key(false)
            .build(),
        ConfigBuilder::with_custom_parameters(EARLIER_PARAMETERS).build(),
    ]
}

/// Read compressed server-key bytes: size-limited and conformant to this build's parameter
/// set or to one an earlier build used.
fn read_compressed_server_key(bytes: &[u8]) -> Result<CompressedServerKey, FheError> {
    let mut last = String::new();
    for config in std::iter::once(config()).chain(earlier_configs()) {
        match safe_deserialize_conformant(bytes, SERVER_KEY_LIMIT, &config.into()) {
            Ok(key) => return Ok(key),
            Err(e) => last = e,
        }
    }
    Err(FheError::Malformed {
        what: "server key",
        reason: last,
    })
}

/// A freshly generated key set.
#[cfg(feature = "client")]
pub struct GeneratedKeys {
    /// Secret: decrypts every result. Stays on the client.
    pub client_key: ClientKey,
    /// Public evaluation key as sent to an evaluator (compressed, safe-serialized).
    pub server_key_bytes: Vec<u8>,
    /// Identifier of this key set.
    pub key_id: ServerKeyId,
}

#[cfg(feature = "client")]
impl std::fmt::Debug for GeneratedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKeys")
            .field("client_key", &"<redacted>")
            .field("server_key_bytes", &self.server_key_bytes.len())
            .finish()
    }
}

/// Generate a client key and its compressed server key.
#[cfg(feature = "client")]
pub fn generate_keys() -> Result<GeneratedKeys, FheError> {
    generate_keys_with(config())
}

/// Generate keys as earlier builds did (classic parameters; the first with tfhe's OPRF key,
/// the second without): for compatibility tests.
#[cfg(feature = "client")]
#[doc(hidden)]
pub fn generate_earlier_keys() -> Result<[GeneratedKeys; 2], FheError> {
    let [without_oprf, with_oprf] = earlier_configs();
    Ok([
        generate_keys_with(with_oprf)?,
        generate_keys_with(without_oprf)?,
    ])
}

#[cfg(feature = "client")]
fn generate_keys_with(config: Config) -> Result<GeneratedKeys, FheError> {
    let client_key = ClientKey::generate(config);
    let compressed = CompressedServerKey::new(&client_key);
    let mut server_key_bytes = Vec::new();
    safe_serialize(&compressed, &mut server_key_bytes, SERVER_KEY_LIMIT)
        .map_err(|e| FheError::Evaluation(format!("serializing the server key: {e}")))?;
    let key_id = ServerKeyId::of_key(&server_key_bytes);
    Ok(GeneratedKeys {
        client_key,
        server_key_bytes,
        key_id,
    })
}

/// Check that bytes are a compressed server key of this build's parameters (size-limited,
/// conformance-checked) without decompressing it; returns its key id.
pub fn check_server_key(bytes: &[u8]) -> Result<ServerKeyId, FheError> {
    read_compressed_server_key(bytes)?;
    Ok(ServerKeyId::of_key(bytes))
}

/// Read compressed server-key bytes (size-limited, conformance-checked) and decompress them.
pub fn load_server_key(bytes: &[u8]) -> Result<(ServerKey, ServerKeyId), FheError> {
    let compressed = read_compressed_server_key(bytes)?;
    Ok((compressed.decompress(), ServerKeyId::of_key(bytes)))
}

/// Serialize the secret client key (for the vault). The buffer is wiped when dropped.
#[cfg(feature = "client")]
pub fn client_key_to_bytes(client_key: &ClientKey) -> Result<Zeroizing<Vec<u8>>, FheError> {
    let mut out = Zeroizing::new(Vec::new());
    safe_serialize(client_key, &mut *out, CLIENT_KEY_LIMIT)
        .map_err(|e| FheError::Evaluation(format!("serializing the client key: {e}")))?;
    Ok(out)
}

/// Read a client key written by [`client_key_to_bytes`] (size-limited) and check that it
/// uses this build's parameters or an earlier build's.
#[cfg(feature = "client")]
pub fn client_key_from_bytes(bytes: &[u8]) -> Result<ClientKey, FheError> {
    let key: ClientKey =
        safe_deserialize(bytes, CLIENT_KEY_LIMIT).map_err(|e| FheError::Malformed {
            what: "client key",
            reason: e,
        })?;
    let (integer_key, ..) = key.clone().into_raw_parts();
    let found = integer_key.into_raw_parts().parameters().ap_parameters();
    let known = [
        tfhe::shortint::AtomicPatternParameters::from(PARAMETERS),
        tfhe::shortint::AtomicPatternParameters::from(EARLIER_PARAMETERS),
    ];
    if !found.is_some_and(|p| known.contains(&p)) {
        return Err(FheError::Mismatch {
            what: "client key",
            reason: "its parameters are neither this build's nor an earlier build's".into(),
        });
    }
    Ok(key)
}
