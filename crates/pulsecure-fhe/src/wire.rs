//! Byte formats exchanged between client and evaluator.
//!
//! Request:  `"PSQ3"` | model fingerprint (32) | key id (16) | count (u16 LE) | blocks
//! Response: `"PSR2"` | model fingerprint (32) | key id (16) | count (u16 LE) | blocks
//!
//! Each block is `len (u32 LE)` followed by its bytes. Request blocks: for a cvd-lr model
//! (schema 1) tfhe's safe serialization of one seeded shortint `CompressedCiphertext` per
//! input block, read back with tfhe's size-limited, conformance-checked deserialization; for
//! a published equation (schema 2) the 24-byte slots of [`crate::lwe_wire`]. Responses are
//! compressed (version 2): a cvd-lr result is one block, the segment keyswitched and
//! modulus-switched to 12-bit values ([`crate::switched_wire`], 1 379 bytes); a published
//! equation's is one 8-byte body per encrypted output, the masks left out — the client
//! recomputes them from its own request, as it recomputes the whole answer to check it.
//!
//! Earlier versions are recognised only to be refused with what to upgrade: a `PSQ1` request
//! (one block per digit), a `PSQ2` request (from a client that reads only uncompressed
//! results), a `PSR1` result (uncompressed, from an older evaluator).

use pulsecure_core::ports::fhe::FheError;

use crate::params::{CIPHERTEXT_LIMIT, MAX_BLOCKS};
use crate::server_key_id::ServerKeyId;

/// Magic of a request. Version 3: blocks follow the model's input layout
/// ([`crate::layout`]: two yes/no answers per block) and the sender reads compressed results.
pub const REQUEST_MAGIC: &[u8; 4] = b"PSQ3";
/// Magic of a response. Version 2: compressed results.
pub const RESPONSE_MAGIC: &[u8; 4] = b"PSR2";

/// Retired magics, each with the frame kind it was and why it is refused.
const RETIRED: [(&[u8; 4], &[u8; 4], &str); 3] = [
    (
        b"PSQ1",
        REQUEST_MAGIC,
        "a version-1 request (one block per digit) from an older client; this evaluator \
         reads version 3 — upgrade the client",
    ),
    (
        b"PSQ2",
        REQUEST_MAGIC,
        "a version-2 request from an older client, which reads only uncompressed results; \
         this evaluator answers version 3 with compressed results — upgrade the client",
    ),
    (
        b"PSR1",
        RESPONSE_MAGIC,
        "an uncompressed result from an older evaluator; this client reads compressed \
         results — upgrade the evaluator",
    ),
];

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
    if let Some(why) = retired(magic, found) {
        return Err(malformed(why));
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

/// Whether `frame` is a result in a retired format: made by an evaluator older than this
/// client (a job evaluated before the upgrade). Such a frame is refused before anything is
/// decrypted.
pub fn is_retired_response(frame: &[u8]) -> bool {
    frame
        .get(..4)
        .is_some_and(|found| retired(RESPONSE_MAGIC, found).is_some())
}

/// Why a frame of kind `kind` (its current magic) starting with `found` is refused, if `found`
/// is one of that kind's retired magics.
fn retired(kind: &[u8; 4], found: &[u8]) -> Option<&'static str> {
    RETIRED
        .iter()
        .find(|(magic, k, _)| *k == kind && found == &magic[..])
        .map(|(.., why)| *why)
}

/// The model and key set a request is bound to, read from its header (the rest of the frame
/// is checked by whoever evaluates it).
pub fn request_binding(request: &[u8]) -> Result<([u8; 32], ServerKeyId), FheError> {
    let envelope = read(REQUEST_MAGIC, request, "request")?;
    Ok((envelope.model, envelope.key_id))
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
    fn retired_versions_are_named_as_such_and_only_where_they_were_used() {
        for (magic, upgrade) in [
            (b"PSQ1", "version-1 request"),
            (b"PSQ2", "version-2 request"),
        ] {
            let bytes = write(magic, &[7; 32], &id(), &[]);
            let err = read(REQUEST_MAGIC, &bytes, "request")
                .err()
                .expect("refused");
            assert!(err.to_string().contains(upgrade), "{err}");
            assert!(err.to_string().contains("upgrade the client"), "{err}");
            let err = read(RESPONSE_MAGIC, &bytes, "result")
                .err()
                .expect("refused");
            assert!(err.to_string().contains("wrong magic"), "{err}");
        }
        let bytes = write(b"PSR1", &[7; 32], &id(), &[]);
        let err = read(RESPONSE_MAGIC, &bytes, "result")
            .err()
            .expect("refused");
        assert!(err.to_string().contains("upgrade the evaluator"), "{err}");
        let err = read(REQUEST_MAGIC, &bytes, "request")
            .err()
            .expect("refused");
        assert!(err.to_string().contains("wrong magic"), "{err}");
    }
}
