//! Verifying a model release against trusted publisher keys.

use std::io::Cursor;

use pulsecure_core::ReleasedModel;
use sha2::{Digest, Sha256};

use crate::claim::ModelClaim;
use crate::error::SigningError;
use crate::keys::{key_id_hex, PublisherKey};

/// A model whose signature, claim and content all check out.
#[derive(Debug)]
pub struct VerifiedModel {
    /// The parsed, validated model (schema 1 or 2).
    pub model: ReleasedModel,
    /// The signed claim.
    pub claim: ModelClaim,
    /// Key id of the signer.
    pub key_id: String,
    /// Origin of the signer's trust entry.
    pub key_origin: String,
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Length of a base64-encoded 64-byte Ed25519 signature (with its `==` padding).
const GLOBAL_SIGNATURE_BASE64_LEN: usize = 88;

/// minisign 0.10 slices the global signature (the 4th line) as 64 bytes without checking its
/// length, so a short one panics inside `minisign::verify` (found by the `model_signature`
/// fuzz target). Refuse any 4th line that cannot decode to exactly 64 bytes first.
fn check_global_signature_length(signature_text: &str) -> Result<(), SigningError> {
    if let Some(line) = signature_text.lines().nth(3).map(str::trim) {
        let padded_for_64 = line.len() == GLOBAL_SIGNATURE_BASE64_LEN
            && line.ends_with("==")
            && !line.ends_with("===");
        if !padded_for_64 {
            return Err(SigningError::MalformedSignature(
                "the global signature (4th line) is not a base64 64-byte signature".into(),
            ));
        }
    }
    Ok(())
}

/// Verify `model_bytes` against the minisign `signature_text`, with one of `trusted`
/// keys; then check the signed claim (id, version, SHA-256) against the file and load it.
pub fn verify_model(
    model_bytes: &[u8],
    signature_text: &str,
    trusted: &[PublisherKey],
) -> Result<VerifiedModel, SigningError> {
    check_global_signature_length(signature_text)?;
    let signature = minisign::SignatureBox::from_string(signature_text)
        .map_err(|e| SigningError::MalformedSignature(e.to_string()))?;
    let key_id = key_id_hex(signature.keynum());
    let signer = trusted
        .iter()
        .find(|k| k.key.keynum() == signature.keynum())
        .ok_or_else(|| SigningError::UntrustedKey {
            key_id: key_id.clone(),
        })?;
    minisign::verify(
        &signer.key,
        &signature,
        Cursor::new(model_bytes),
        true,
        false,
        false,
    )
    .map_err(|_| SigningError::BadSignature {
        key_id: key_id.clone(),
    })?;
    let comment = signature
        .trusted_comment()
        .map_err(|e| SigningError::MalformedSignature(e.to_string()))?;
    let claim = ModelClaim::parse(&comment)?;
    if let Some(scope) = &signer.scope {
        if !scope.allows(&claim.model_id, claim.version) {
            return Err(SigningError::RetiredKey {
                key_id,
                scope: scope.to_string(),
                model_id: claim.model_id,
                version: claim.version,
            });
        }
    }
    let text = std::str::from_utf8(model_bytes).map_err(|_| {
        SigningError::Model(pulsecure_core::ModelError::Malformed("not UTF-8".into()))
    })?;
    let model = ReleasedModel::from_json(text)?;
    let mismatch = |field, signed: String, actual: String| SigningError::ClaimMismatch {
        model_id: model.id().to_string(),
        version: model.version(),
        field,
        signed,
        actual,
    };
    if claim.model_id != model.id() {
        return Err(mismatch(
            "model id",
            claim.model_id.clone(),
            model.id().into(),
        ));
    }
    if claim.version != model.version() {
        return Err(mismatch(
            "version",
            claim.version.to_string(),
            model.version().to_string(),
        ));
    }
    let actual = sha256_hex(model_bytes);
    if claim.sha256 != actual {
        return Err(mismatch("sha256", claim.sha256.clone(), actual));
    }
    Ok(VerifiedModel {
        model,
        claim,
        key_id,
        key_origin: signer.origin.clone(),
    })
}
