//! Who is at the other end of a connection: the peer's uid on a Unix socket, or the client
//! certificate under mutual TLS. The identity is the SHA-256 of the certificate's
//! SubjectPublicKeyInfo (it survives a renewal of the certificate with the same key, and two
//! certificates with the same name but different keys are different identities); the log
//! names the SHA-256 fingerprint of the whole certificate.

use std::fmt;

use sha2::{Digest, Sha256};

/// The identity a key is owned by and a request is authorised for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeerIdentity {
    /// A local user, by the uid the kernel reports for the Unix socket (`SO_PEERCRED`).
    Uid(u32),
    /// A mutual-TLS client, by the SHA-256 of its certificate's SubjectPublicKeyInfo.
    Spki([u8; 32]),
}

impl PeerIdentity {
    /// The text form used in logs, on the command line and in the key store:
    /// `uid:1000` or `spki:<64 hex digits>`.
    pub fn to_text(&self) -> String {
        match self {
            PeerIdentity::Uid(uid) => format!("uid:{uid}"),
            PeerIdentity::Spki(hash) => format!("spki:{}", hex(hash)),
        }
    }

    /// Parse the text form of [`to_text`](Self::to_text).
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(uid) = text.strip_prefix("uid:") {
            return uid
                .parse()
                .map(PeerIdentity::Uid)
                .map_err(|_| "an identity `uid:N` needs a numeric uid".to_string());
        }
        if let Some(hash) = text.strip_prefix("spki:") {
            return parse_hex32(hash).map(PeerIdentity::Spki).ok_or_else(|| {
                "an identity `spki:HEX` needs the 64 hex digits of a SHA-256".to_string()
            });
        }
        Err("an identity is `uid:N` or `spki:<SHA-256 of the certificate's public key info, 64 hex digits>`".into())
    }
}

impl fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// What is known of a connection's peer; tonic puts it in every request's extensions.
#[derive(Clone, Debug)]
pub struct Peer {
    /// The peer's identity (`None`: the kernel did not report a uid).
    pub identity: Option<PeerIdentity>,
    /// SHA-256 of the client certificate (mutual TLS only), for the log.
    pub certificate_sha256: Option<[u8; 32]>,
}

impl Peer {
    /// A Unix-socket peer with this uid.
    pub fn unix(uid: Option<u32>) -> Self {
        Peer {
            identity: uid.map(PeerIdentity::Uid),
            certificate_sha256: None,
        }
    }

    /// A mutual-TLS peer from its end-entity certificate (DER). `None` when the certificate
    /// cannot be parsed (rustls verified it, so this does not happen in practice).
    pub fn from_certificate(der: &[u8]) -> Option<Self> {
        let cert = rustls_pki_types::CertificateDer::from(der);
        let parsed = webpki::EndEntityCert::try_from(&cert).ok()?;
        let spki = parsed.subject_public_key_info();
        Some(Peer {
            identity: Some(PeerIdentity::Spki(Sha256::digest(spki.as_ref()).into())),
            certificate_sha256: Some(Sha256::digest(der).into()),
        })
    }

    /// The certificate fingerprint as `sha256:<hex>` for the log (`-` without one).
    pub fn fingerprint_text(&self) -> String {
        self.certificate_sha256
            .map(|h| format!("sha256:{}", hex(&h)))
            .unwrap_or_else(|| "-".into())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_round_trip_through_text() {
        for id in [PeerIdentity::Uid(1000), PeerIdentity::Spki([0xab; 32])] {
            assert_eq!(PeerIdentity::parse(&id.to_text()), Ok(id));
        }
        assert!(PeerIdentity::parse("uid:x").is_err());
        assert!(PeerIdentity::parse("spki:abcd").is_err());
        assert!(PeerIdentity::parse("clinic-a").is_err());
    }
}
