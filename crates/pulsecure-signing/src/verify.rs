//! Verifying a model release against trusted publisher keys.

use std::io::Cursor;

use pulsecure_core::Model;
use sha2::{Digest, Sha256};

use crate::claim::ModelClaim;
use crate::error::SigningError;
use crate::keys::{key_id_hex, PublisherKey};

/// A model whose signature, claim and content all check out.
#[derive(Debug)]
pub struct VerifiedModel {
    /// The parsed, validated model.
    pub model: Model,
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

/// Verify `model_bytes` against the minisign `signature_text`, with one of `trusted`
/// keys; then check the signed claim (id, version, SHA-256) against the file and load it.
pub fn verify_model(
    model_bytes: &[u8],
    signature_text: &str,
    trusted: &[PublisherKey],
) -> Result<VerifiedModel, SigningError> {
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
    let text = std::str::from_utf8(model_bytes).map_err(|_| {
        SigningError::Model(pulsecure_core::ModelError::Malformed("not UTF-8".into()))
    })?;
    let model = Model::from_json(text)?;
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
