//! Byte forms of the schema-2 ciphertexts (inside the PSQ3/PSR2 frames of [`crate::wire`]).
//!
//! tfhe's safe serialization covers its high-level and shortint types, not core_crypto's
//! LWE entities, so these two fixed-size forms are written here. They carry no length,
//! dimension or modulus field a sender could set: both are implied by the parameter set
//! (native 2^64 modulus, the client key's LWE dimension), and a block of any other length is
//! refused.
//!
//! - **Slot** (request): the seed of the mask (u128, little endian) then the body (u64 LE):
//!   24 bytes. The mask is re-expanded from the seed with tfhe's CSPRNG, as tfhe does for
//!   its own seeded ciphertexts.
//! - **Result**: the full LWE ciphertext, every coefficient as u64 LE, mask then body:
//!   `8 · (dimension + 1)` bytes (what the client recomputes; older evaluators sent it in
//!   their uncompressed `PSR1` frames).
//! - **Body** (the compressed `PSR2` response): the body alone, u64 LE: 8 bytes. The mask is
//!   the public linear map of the request's masks, which the client recomputes.

use tfhe::core_crypto::commons::math::random::{CompressionSeed, Seed};
use tfhe::core_crypto::prelude::{
    CiphertextModulus, LweCiphertext, LweCiphertextOwned, LweDimension, SeededLweCiphertext,
};

use pulsecure_core::ports::fhe::FheError;

/// Bytes of one slot.
pub const SLOT_BYTES: usize = 24;

fn modulus() -> CiphertextModulus<u64> {
    CiphertextModulus::new_native()
}

/// An empty seeded ciphertext with mask seed `seed`, ready to be encrypted into.
pub fn seeded_slot(seed: u128, dimension: LweDimension) -> SeededLweCiphertext<u64> {
    SeededLweCiphertext::new(
        0u64,
        dimension.to_lwe_size(),
        CompressionSeed::from(Seed(seed)),
        modulus(),
    )
}

/// The byte form of a slot made by [`seeded_slot`] with `seed`.
pub fn slot_bytes(seed: u128, ct: &SeededLweCiphertext<u64>) -> [u8; SLOT_BYTES] {
    let mut out = [0u8; SLOT_BYTES];
    out[..16].copy_from_slice(&seed.to_le_bytes());
    out[16..].copy_from_slice(&ct.get_body().data.to_le_bytes());
    out
}

/// Read a slot, decompressing its mask.
pub fn read_slot(
    bytes: &[u8],
    dimension: LweDimension,
) -> Result<LweCiphertextOwned<u64>, FheError> {
    let bytes: &[u8; SLOT_BYTES] = bytes.try_into().map_err(|_| FheError::Malformed {
        what: "request",
        reason: format!("a slot of {} bytes, expected {SLOT_BYTES}", bytes.len()),
    })?;
    let (seed, body) = bytes.split_at(16);
    let seed = u128::from_le_bytes(seed.try_into().unwrap_or([0; 16]));
    let body = u64::from_le_bytes(body.try_into().unwrap_or([0; 8]));
    Ok(SeededLweCiphertext::from_scalar(
        body,
        dimension.to_lwe_size(),
        CompressionSeed::from(Seed(seed)),
        modulus(),
    )
    .decompress_into_lwe_ciphertext())
}

/// The byte form of a result.
pub fn result_bytes(ct: &LweCiphertextOwned<u64>) -> Vec<u8> {
    ct.as_ref().iter().flat_map(|c| c.to_le_bytes()).collect()
}

/// Bytes of a compressed result's block: one body.
pub const BODY_BYTES: usize = 8;

/// The compressed form of a result: its body.
pub fn body_bytes(ct: &LweCiphertextOwned<u64>) -> [u8; BODY_BYTES] {
    ct.get_body().data.to_le_bytes()
}

/// Read a result of the given dimension.
pub fn read_result(
    bytes: &[u8],
    dimension: LweDimension,
) -> Result<LweCiphertextOwned<u64>, FheError> {
    let expected = 8 * dimension.to_lwe_size().0;
    if bytes.len() != expected {
        return Err(FheError::Malformed {
            what: "result",
            reason: format!("{} bytes, expected {expected}", bytes.len()),
        });
    }
    let data = bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    Ok(LweCiphertext::from_container(data, modulus()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_reads_back_and_a_wrong_length_is_refused() {
        let dim = LweDimension(4);
        let ct = LweCiphertext::from_container(vec![1u64, 2, 3, 4, u64::MAX], modulus());
        let bytes = result_bytes(&ct);
        assert_eq!(bytes.len(), 40);
        assert_eq!(
            read_result(&bytes, dim).expect("reads").as_ref(),
            ct.as_ref()
        );
        assert!(read_result(&bytes[..39], dim).is_err());
        assert!(read_slot(&[0u8; 23], dim).is_err());
        assert!(read_slot(&[0u8; 25], dim).is_err());
    }

    #[test]
    fn a_slot_reads_back_to_the_same_mask_and_body() {
        let dim = LweDimension(8);
        let mut ct = seeded_slot(0x1234_5678, dim);
        *ct.get_mut_body().data = 99;
        let bytes = slot_bytes(0x1234_5678, &ct);
        let expanded = read_slot(&bytes, dim).expect("reads");
        assert_eq!(
            expanded.as_ref(),
            ct.decompress_into_lwe_ciphertext().as_ref()
        );
        assert_eq!(*expanded.get_body().data, 99);
    }
}
