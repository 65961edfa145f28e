//! The sealed part of a screening row, in a fixed-width binary encoding: every payload of a
//! model (a given feature count) has the same length, so the ciphertext length — which
//! AES-GCM keeps — says nothing about the class, the probability or the values.
//!
//! Layout (little-endian): tag `0x02` · feature count (u8) · each feature (f64) ·
//! probability (f64) · probability code (u32) · class (u8: 0 low, 1 high). Length 15 + 8n.
//! Rows written before this encoding hold JSON (first byte `{`); they are still read, and
//! re-sealed in this encoding when the database is opened.

use pulsecure_core::RiskClass;
use serde::Deserialize;

/// First byte of a fixed-width payload (JSON payloads start with `{`).
const TAG: u8 = 0x02;

/// What a payload holds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Payload {
    pub features: Vec<f64>,
    pub probability_code: u32,
    pub probability: f64,
    pub class: RiskClass,
}

/// The JSON payload of rows sealed before the fixed-width encoding.
#[derive(Deserialize)]
struct LegacyPayload {
    features: Vec<f64>,
    probability_code: u32,
    probability: f64,
    class: RiskClass,
}

impl Payload {
    /// The fixed-width encoding (`None` above 255 features, which no model has).
    pub fn encode(&self) -> Option<Vec<u8>> {
        let count = u8::try_from(self.features.len()).ok()?;
        let mut out = Vec::with_capacity(15 + 8 * self.features.len());
        out.push(TAG);
        out.push(count);
        for v in &self.features {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.probability.to_le_bytes());
        out.extend_from_slice(&self.probability_code.to_le_bytes());
        out.push(u8::from(self.class == RiskClass::High));
        Some(out)
    }

    /// Decode either encoding; `None` for anything malformed. The second value says whether
    /// it was the legacy JSON one.
    pub fn decode(bytes: &[u8]) -> Option<(Self, bool)> {
        match bytes.first()? {
            &TAG => Self::decode_fixed(bytes).map(|p| (p, false)),
            b'{' => {
                let p: LegacyPayload = serde_json::from_slice(bytes).ok()?;
                Some((
                    Payload {
                        features: p.features,
                        probability_code: p.probability_code,
                        probability: p.probability,
                        class: p.class,
                    },
                    true,
                ))
            }
            _ => None,
        }
    }

    fn decode_fixed(bytes: &[u8]) -> Option<Self> {
        let count = usize::from(*bytes.get(1)?);
        if bytes.len() != 15 + 8 * count {
            return None;
        }
        let f64_at = |at: usize| -> Option<f64> {
            Some(f64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
        };
        let features = (0..count)
            .map(|i| f64_at(2 + 8 * i))
            .collect::<Option<Vec<_>>>()?;
        let at = 2 + 8 * count;
        let probability = f64_at(at)?;
        let probability_code = u32::from_le_bytes(bytes.get(at + 8..at + 12)?.try_into().ok()?);
        let class = match bytes.get(at + 12)? {
            0 => RiskClass::Low,
            1 => RiskClass::High,
            _ => return None,
        };
        Some(Payload {
            features,
            probability_code,
            probability,
            class,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(class: RiskClass, code: u32, features: Vec<f64>) -> Payload {
        Payload {
            features,
            probability_code: code,
            probability: f64::from(code) / 4096.0,
            class,
        }
    }

    #[test]
    fn same_length_whatever_the_result_or_the_values() {
        let low = payload(RiskClass::Low, 0, vec![20.0; 9]);
        let high = payload(
            RiskClass::High,
            1982,
            vec![120.0, 1.0, 260.0, 1.0, 20.0, 200.0, 1.0, 600.0, 1.0],
        );
        let odd = payload(
            RiskClass::High,
            4096,
            vec![18.123456789, 0.0, 61.5, 0.0, 0.1, 40.0, 0.0, 50.0, 0.0],
        );
        let lengths: Vec<usize> = [low, high, odd]
            .iter()
            .map(|p| p.encode().expect("encodes").len())
            .collect();
        assert_eq!(lengths, vec![15 + 8 * 9; 3]);
    }

    #[test]
    fn round_trips_and_refuses_malformed_bytes() {
        let p = payload(RiskClass::High, 1439, vec![63.0, 1.0, 151.5]);
        let bytes = p.encode().expect("encodes");
        assert_eq!(Payload::decode(&bytes), Some((p, false)));
        assert_eq!(Payload::decode(&bytes[..bytes.len() - 1]), None);
        let mut bad_class = bytes.clone();
        *bad_class.last_mut().expect("non-empty") = 7;
        assert_eq!(Payload::decode(&bad_class), None);
        assert_eq!(Payload::decode(&[]), None);
        assert_eq!(Payload::decode(b"x"), None);
    }

    #[test]
    fn legacy_json_payloads_are_still_read() {
        let json = br#"{"features":[63.0,1.0],"probability_code":44,"probability":0.0107421875,"class":"low"}"#;
        let (p, legacy) = Payload::decode(json).expect("decodes");
        assert!(legacy);
        assert_eq!(p.probability_code, 44);
        assert_eq!(p.class, RiskClass::Low);
    }
}
