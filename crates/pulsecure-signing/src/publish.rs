//! The publisher side: key pairs and signatures (run offline, by whoever releases models).
//!
//! The `minisign` crate holds the decrypted secret key only for the duration of one call;
//! it does not zeroize it on drop (a limitation recorded in the docs), which is why this
//! code never runs in the clinician's screening path.

use std::io::Cursor;

use crate::claim::ModelClaim;
use crate::error::SigningError;
use crate::verify::sha256_hex;

/// A new publisher key pair: (public key file text, password-encrypted secret key text).
pub fn generate_keypair(password: String) -> Result<(String, String), SigningError> {
    if password.is_empty() {
        return Err(SigningError::Publisher(
            "the secret key needs a password".into(),
        ));
    }
    let pair = minisign::KeyPair::generate_encrypted_keypair(Some(password))
        .map_err(|e| SigningError::Publisher(e.to_string()))?;
    let public = pair
        .pk
        .to_box()
        .map_err(|e| SigningError::Publisher(e.to_string()))?
        .into_string();
    let secret = pair
        .sk
        .to_box(Some("pulsecure model publisher secret key"))
        .map_err(|e| SigningError::Publisher(e.to_string()))?
        .into_string();
    Ok((public, secret))
}

/// Sign `model_bytes` (a `model.json`) with the secret key text and its password. The
/// trusted comment is the model's claim (id, version, SHA-256). Returns the .minisig text.
pub fn sign_model(
    model_bytes: &[u8],
    secret_key_text: &str,
    password: String,
) -> Result<String, SigningError> {
    let text = std::str::from_utf8(model_bytes).map_err(|_| {
        SigningError::Model(pulsecure_core::ModelError::Malformed("not UTF-8".into()))
    })?;
    let model = pulsecure_core::ReleasedModel::from_json(text)?;
    let claim = ModelClaim {
        model_id: model.id().to_string(),
        version: model.version(),
        sha256: sha256_hex(model_bytes),
    };
    let secret = minisign::SecretKeyBox::from_string(secret_key_text)
        .and_then(|b| b.into_secret_key(Some(password)))
        .map_err(|e| SigningError::Publisher(format!("cannot open the secret key: {e}")))?;
    let signature = minisign::sign(
        None,
        &secret,
        Cursor::new(model_bytes),
        Some(&claim.encode()),
        Some(&format!(
            "signature of {} version {}",
            claim.model_id, claim.version
        )),
    )
    .map_err(|e| SigningError::Publisher(e.to_string()))?;
    Ok(signature.into_string())
}
