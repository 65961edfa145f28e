//! The trusted comment of a model signature: `pulsecure-model id=<id> version=<n>
//! sha256=<hex>`. minisign signs it together with the signature, so it cannot be edited.

use crate::error::SigningError;

/// What the publisher asserts about a `model.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelClaim {
    /// Model id.
    pub model_id: String,
    /// Monotonically increasing release number.
    pub version: u64,
    /// Hex SHA-256 of the exact file bytes.
    pub sha256: String,
}

const PREFIX: &str = "pulsecure-model";

impl ModelClaim {
    /// The release the claim names.
    pub fn model_ref(&self) -> pulsecure_core::ModelRef {
        pulsecure_core::ModelRef::new(self.model_id.as_str(), self.version)
    }

    /// The trusted-comment text.
    pub fn encode(&self) -> String {
        format!(
            "{PREFIX} id={} version={} sha256={}",
            self.model_id, self.version, self.sha256
        )
    }

    /// Parse a trusted comment.
    pub fn parse(text: &str) -> Result<Self, SigningError> {
        let bad = |why: &str| SigningError::MalformedClaim(why.to_string());
        let mut parts = text.split_whitespace();
        if parts.next() != Some(PREFIX) {
            return Err(bad("expected it to start with `pulsecure-model`"));
        }
        let (mut id, mut version, mut sha) = (None, None, None);
        for part in parts {
            match part.split_once('=') {
                Some(("id", v)) if !v.is_empty() => id = Some(v.to_string()),
                Some(("version", v)) => {
                    version = Some(
                        v.parse::<u64>()
                            .map_err(|_| bad("version is not a number"))?,
                    )
                }
                Some(("sha256", v))
                    if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) =>
                {
                    sha = Some(v.to_ascii_lowercase())
                }
                _ => return Err(bad("unexpected field")),
            }
        }
        Ok(ModelClaim {
            model_id: id.ok_or_else(|| bad("no id"))?,
            version: version.ok_or_else(|| bad("no version"))?,
            sha256: sha.ok_or_else(|| bad("no sha256"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let claim = ModelClaim {
            model_id: "cvd-lr".into(),
            version: 7,
            sha256: "ab".repeat(32),
        };
        assert_eq!(ModelClaim::parse(&claim.encode()).expect("parse"), claim);
    }

    #[test]
    fn malformed_claims_are_refused() {
        for text in [
            "timestamp:1700000000",
            "pulsecure-model id=x version=one sha256=00",
            "pulsecure-model id=x version=1",
            "pulsecure-model id=x version=1 sha256=zz",
            "pulsecure-model id=x version=1 sha256=00 extra=1",
        ] {
            assert!(ModelClaim::parse(text).is_err(), "{text}");
        }
    }
}
