//! Byte formats exchanged between client and evaluator.
//!
//! Request:  `"PSQ2"` | model fingerprint (32) | key id (16) | count (u16 LE) | blocks
//! Response: `"PSR1"` | model fingerprint (32) | key id (16) | count (u16 LE) | blocks
//!
//! A published equation's request is `"PSQ3"` (same layout; its sender reads compressed
//! results) and its response `"PSR2"`: one 8-byte body per encrypted output, the masks left
//! out — the client recomputes them from its own request, as it recomputes the whole answer
//! to check it. An equation request in `"PSQ2"` comes from an older client, which reads only
//! full results: it is refused with a message saying so.
//! Each block is `len (u32 LE)` followed by tfhe's safe serialization of one ciphertext, read
//! back with tfhe's size-limited, conformance-checked deserialization (schema 1: a shortint
//! block each, seeded `CompressedCiphertext` in requests, `Ciphertext` in responses) or, for
//! schema 2, in the fixed-size forms of [`crate::lwe_wire`] (24-byte slots in requests, one
//! LWE ciphertext in responses).

use pulsecure_core::ports::fhe::FheError;

use crate::params::{CIPHERTEXT_LIMIT, MAX_BLOCKS};
use crate::server_key_id::ServerKeyId;

/// Magic of a request. Version 2: blocks follow the model's input layout
/// ([`crate::layout`]: two yes/no answers per block); version 1 sent one block per digit.
pub const REQUEST_MAGIC: &[u8; 4] = b"PSQ2";
/// Magic of the retired request version 1, recognised only to say so.
pub const RETIRED_REQUEST_MAGIC: &[u8; 4] = b"PSQ1";
/// Magic of a response.
pub const RESPONSE_MAGIC: &[u8; 4] = b"PSR1";
/// Magic of a published equation's request from a client that reads compressed results.
pub const COMPRESSED_REQUEST_MAGIC: &[u8; 4] = b"PSQ3";
/// Magic of a compressed response (a published equation's: the outputs' bodies only).
pub const COMPRESSED_RESPONSE_MAGIC: &[u8; 4] = b"PSR2";

/// A parsed envelope: binding data plus raw block bytes.
pub struct Envelope<'a> {
    /// SHA-256 of the model document the blocks are for.
    pub model: [u8; 32],
    /// Identifier of the key set the blocks were made with.
    pub key_id: ServerKeyId,
    /// Serialized blocks.
    pub blocks: Vec<&'a [u8]>,
}

impl Envelope<'_> {
    /// Refuse a message made for another model or another key set.
    pub fn check_binding(
        &self,
        model: &[u8; 32],
        key_id: &ServerKeyId,
        what: &'static str,
    ) -> Result<(), FheError> {
        if &self.model != model {
            return Err(FheError::Mismatch {
                what,
                reason: "made for another model".into(),
            });
        }
        if &self.key_id != key_id {
            return Err(FheError::Mismatch {
                what,
                reason: "made with another key set".into(),
            });
        }
        Ok(())
    }
}

/// Frame serialized blocks.
pub fn write(
    magic: &[u8; 4],
    model: &[u8; 32],
    key_id: &ServerKeyId,
    blocks: &[Vec<u8>],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(54 + blocks.iter().map(|b| b.len() + 4).sum::<usize>());
    out.extend_from_slice(magic);
    out.extend_from_slice(model);
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(&(blocks.len() as u16).to_le_bytes());
    for b in blocks {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    }
    out
}

fn take<'a>(bytes: &mut &'a [u8], n: usize, what: &'static str) -> Result<&'a [u8], FheError> {
    if bytes.len() < n {
        return Err(FheError::Malformed {
            what,
            reason: "truncated".into(),
        });
    }
    let (head, tail) = bytes.split_at(n);
    *bytes = tail;
    Ok(head)
}

/// Parse a frame, checking magic, counts and lengths (never trusting them for allocation).
pub fn read<'a>(
    magic: &[u8; 4],
    mut bytes: &'a [u8],
    what: &'static str,
) -> Result<Envelope<'a>, FheError> {
    let malformed = |reason: &str| FheError::Malformed {
        what,
        reason: reason.into(),
    };
    let found = take(&mut bytes, 4, what)?;
    if magic == REQUEST_MAGIC && found == RETIRED_REQUEST_MAGIC {
        return Err(malformed(
            "a version-1 request (one block per digit) from an older client; this evaluator \
             reads version 2 — upgrade the client",
        ));
    }
    if magic == COMPRESSED_REQUEST_MAGIC && found == REQUEST_MAGIC {
        return Err(malformed(
            "a published-equation request from an older client (version 2), which reads \
             only uncompressed results; this evaluator answers version 3 with compressed \
             results — upgrade the client",
        ));
    }
    if magic == COMPRESSED_RESPONSE_MAGIC && found == RESPONSE_MAGIC {
        return Err(malformed(
            "an uncompressed result from an older evaluator; this client reads compressed \
             results — upgrade the evaluator",
        ));
    }
    if found != magic {
        return Err(malformed(
            "wrong magic (not a Pulsecure message of this kind)",
        ));
    }
    let mut model = [0u8; 32];
    model.copy_from_slice(take(&mut bytes, 32, what)?);
    let key_id = ServerKeyId::from_slice(take(&mut bytes, 16, what)?)
        .ok_or_else(|| malformed("no key id"))?;
    let count_bytes = take(&mut bytes, 2, what)?;
    let count = usize::from(u16::from_le_bytes([count_bytes[0], count_bytes[1]]));
    if count > MAX_BLOCKS {
        return Err(malformed("too many blocks"));
    }
    let mut blocks = Vec::with_capacity(count);
    for _ in 0..count {
        let len_bytes = take(&mut bytes, 4, what)?;
        let len =
            u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
        if len as u64 > CIPHERTEXT_LIMIT {
            return Err(malformed("block larger than the limit"));
        }
        blocks.push(take(&mut bytes, len, what)?);
    }
    if !bytes.is_empty() {
        return Err(malformed("trailing bytes"));
    }
    Ok(Envelope {
        model,
        key_id,
        blocks,
    })
}

/// The model and key set a request of either current version (`PSQ2`, `PSQ3`) is bound to,
/// read from its header (the rest of the frame is checked by whoever evaluates it).
pub fn request_binding(request: &[u8]) -> Result<([u8; 32], ServerKeyId), FheError> {
    let magic = request.get(..4).unwrap_or_default();
    let expected = if magic == COMPRESSED_REQUEST_MAGIC {
        COMPRESSED_REQUEST_MAGIC
    } else {
        REQUEST_MAGIC
    };
    let envelope = read(expected, request, "request")?;
    Ok((envelope.model, envelope.key_id))
}

/// A response frame of shortint result blocks (the schema-1 circuit's): each block
/// serialized (bounded), bound to the model and key.
pub fn write_response<'a>(
    model: &[u8; 32],
    key_id: &ServerKeyId,
    blocks: impl IntoIterator<Item = &'a tfhe::shortint::Ciphertext>,
) -> Result<Vec<u8>, FheError> {
    let serialized = blocks
        .into_iter()
        .map(|ct| {
            let mut bytes = Vec::new();
            tfhe::safe_serialization::safe_serialize(ct, &mut bytes, CIPHERTEXT_LIMIT)
                .map_err(|e| FheError::Evaluation(format!("serializing a result: {e}")))?;
            Ok(bytes)
        })
        .collect::<Result<Vec<_>, FheError>>()?;
    Ok(write(RESPONSE_MAGIC, model, key_id, &serialized))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> ServerKeyId {
        ServerKeyId::from_slice(&[9; 16]).expect("16 bytes")
    }

    #[test]
    fn a_frame_reads_back() {
        let bytes = write(REQUEST_MAGIC, &[7; 32], &id(), &[vec![1, 2, 3], vec![]]);
        let envelope = read(REQUEST_MAGIC, &bytes, "request").expect("reads");
        assert_eq!(envelope.model, [7; 32]);
        assert_eq!(envelope.key_id, id());
        assert_eq!(envelope.blocks, vec![&[1u8, 2, 3][..], &[][..]]);
    }

    #[test]
    fn a_version_one_request_is_named_as_such() {
        let bytes = write(RETIRED_REQUEST_MAGIC, &[7; 32], &id(), &[]);
        let err = read(REQUEST_MAGIC, &bytes, "request")
            .err()
            .expect("refused");
        assert!(err.to_string().contains("version-1 request"), "{err}");
        let err = read(RESPONSE_MAGIC, &bytes, "result")
            .err()
            .expect("refused");
        assert!(err.to_string().contains("wrong magic"), "{err}");
    }
}
