//! Human-comparable fingerprints of public key material.

use sha2::{Digest, Sha256};

/// `SHA256:` followed by the first 16 bytes of the SHA-256 of `bytes`, as eight groups of
/// four hex digits. Two parties compare it out of band to know they hold the same key.
pub fn fingerprint(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let groups: Vec<String> = digest[..16]
        .chunks(2)
        .map(|pair| format!("{:02x}{:02x}", pair[0], pair[1]))
        .collect();
    format!("SHA256:{}", groups.join(":"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_of_empty_input_is_the_known_sha256_prefix() {
        // SHA-256("") = e3b0c442 98fc1c14 9afbf4c8 996fb924 ...
        assert_eq!(
            fingerprint(b""),
            "SHA256:e3b0:c442:98fc:1c14:9afb:f4c8:996f:b924"
        );
    }

    #[test]
    fn different_inputs_give_different_fingerprints() {
        assert_ne!(fingerprint(b"a"), fingerprint(b"b"));
    }
}
